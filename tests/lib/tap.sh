# Counting TAP results, shared by tests/run.sh and tests/rgw/suite.sh so that
# both read results by the same rules.  The caller sets pass, fail, skip
# (numbers) and log (a file every line is appended to).
#   tap_count NAME < TAP
tap_count() {
	local name=$1 line
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$log"
		case $line in
		# cmocka writes a skipped test as "not ok N # SKIP name"
		"ok "*"# skip"* | "ok "*"# SKIP"* | "not ok "*"# SKIP"* | "not ok "*"# skip"*)
			skip=$((skip + 1)); echo "skip $name: ${line#*ok }" ;;
		"not ok"*) fail=$((fail + 1)); echo "FAIL $name: ${line#not ok }" ;;
		"ok "*) pass=$((pass + 1)) ;;
		"Bail out!"*) fail=$((fail + 1)); echo "FAIL $name: $line" ;;
		esac
	done
}
