// Starts s3rver on 127.0.0.1, port 0 (the kernel picks a free one), data in
// DIR, with BUCKET created; prints "port N" once it listens; closes on
// SIGTERM/SIGINT.  Run by server.sh:
//   node --openssl-legacy-provider s3rver.js MODULE_DIR DATA_DIR BUCKET
// (s3rver makes listing continuation tokens with DES, which OpenSSL 3 has
// only in its legacy provider: without the flag every listing answers 500.)
'use strict';
const [moduleDir, dataDir, bucket] = process.argv.slice(2);
if (!moduleDir || !dataDir || !bucket) {
  console.error('usage: s3rver.js MODULE_DIR DATA_DIR BUCKET');
  process.exit(2);
}
const S3rver = require(moduleDir);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dataDir,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
server.run().then((addr) => {
  console.log(`port ${addr.port}`);
}, (err) => {
  console.error(`s3rver: ${err.message}`);
  process.exit(1);
});
let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  server.close().then(() => process.exit(0), () => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
