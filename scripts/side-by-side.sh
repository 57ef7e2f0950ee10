# Sourced by the scripts that run independent jobs at the same time (one
# per CPU by default): tests/run.sh, tests/freestanding.sh, scripts/fuzz.sh.

# slot_wait N: returns once fewer than N of this shell's jobs run.
slot_wait() {
	while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do
		wait -n
	done
}

# side_by_side N FN FORMAT ITEM...: FN ITEM, its output in the file
# printf FORMAT ITEM names, for each ITEM, at most N at a time; returns when
# every one is done. The caller prints the files in its own order.
side_by_side() {
	local n=$1 fn=$2 format=$3 item
	shift 3
	for item; do
		slot_wait "$n"
		# shellcheck disable=SC2059 # the format is the caller's
		"$fn" "$item" >"$(printf "$format" "$item")" 2>&1 &
	done
	wait
}
