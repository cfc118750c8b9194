#!/usr/bin/env python3
"""The crash harness's large source: prints OBJECTS items plus a marker, as one JSON array,
a pure function of the round number in the file named by argv[1]. Each round changes a fifth
of the items, leaves out one in fifty (back the next round) and moves the marker, whose
`round` says which scrape wrote it. `expect` prints the item count and checksum the harness
compares with the store's current state."""
import json
import sys


def items(round_number, objects):
    for i in range(objects):
        if i % 50 != round_number % 50:
            yield {"kind": "item", "id": f"i{i}", "n": i, "v": (round_number + i % 5) // 5}


def main():
    mode, path, objects = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path) as handle:
        round_number = int(handle.read().strip())
    if mode == "expect":
        count = checksum = 0
        for item in items(round_number, objects):
            count += 1
            checksum += item["v"] * (item["n"] + 1)
        print(count, checksum)
        return
    out = list(items(round_number, objects))
    out.append({"kind": "marker", "id": "marker", "round": round_number})
    json.dump(out, sys.stdout, separators=(",", ":"))


main()
