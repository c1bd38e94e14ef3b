// Starts s3rver on 127.0.0.1, port 0 (the kernel picks a free one), data in
// DIR, with BUCKET created; prints "port N" once it listens; closes on
// SIGTERM/SIGINT; its PUTs are atomic, as S3's are (atomicPuts).  Run by
// server.sh:
//   node --openssl-legacy-provider s3rver.js MODULE_DIR DATA_DIR BUCKET
// (s3rver makes listing continuation tokens with DES, which OpenSSL 3 has
// only in its legacy provider: without the flag every listing answers 500.)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// S3 makes an object visible whole or not at all; s3rver writes it in
// place, so that a listing or GET during a PUT shows the part received so
// far (a half-written manifest: "authentication failed").  So the object
// is written under a temporary key outside every prefix the tests use,
// then its files are renamed into place, the object file last.  (s3rver
// 3.7.1 answers before its file is flushed: wait until it has its size.)
function atomicPuts(Store) {
  const put = Store.prototype.putObject;
  if (typeof put !== 'function' || typeof Store.prototype.getResourcePath !== 'function') {
    console.error('s3rver.js: this s3rver has no FilesystemStore.putObject: PUTs are not atomic');
    return;
  }
  Store.prototype.putObject = async function putObjectAtomic(object) {
    const key = object.key;
    const tmp = `.zbak-s3rver-tmp/${crypto.randomBytes(12).toString('hex')}`;
    const from = (r) => this.getResourcePath(object.bucket, tmp, r);
    const to = (r) => this.getResourcePath(object.bucket, key, r);
    let result;
    object.key = tmp;
    try {
      result = await put.call(this, object);
      for (let i = 0; i < 2000; i++) {
        const st = await fs.promises.stat(from('object'));
        if (st.size >= result.size) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await fs.promises.mkdir(path.dirname(to('object')), { recursive: true });
      for (const r of ['metadata.json', 'object.md5', 'object']) {
        await fs.promises.rename(from(r), to(r)).catch((e) => {
          if (e.code !== 'ENOENT' || r === 'object') throw e;
        });
      }
    } catch (e) {
      for (const r of ['object', 'metadata.json', 'object.md5']) {
        await fs.promises.unlink(from(r)).catch(() => {});
      }
      throw e;
    } finally {
      object.key = key;
    }
    return result;
  };
}
const [moduleDir, dataDir, bucket] = process.argv.slice(2);
if (!moduleDir || !dataDir || !bucket) {
  console.error('usage: s3rver.js MODULE_DIR DATA_DIR BUCKET');
  process.exit(2);
}
const S3rver = require(moduleDir);
atomicPuts(require(path.join(moduleDir, 'lib', 'stores', 'filesystem')));
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
