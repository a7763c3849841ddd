#!/bin/sh
# bpf_extract.sh OBJCOPY READELF IN.o OUT.bin
# Writes the raw instructions of section "kernel" of a clang -target bpf
# object.  There is no loader to apply relocations, so an object whose kernel
# needs any (a call, a global, a constant table in .rodata) is refused here
# rather than producing code that silently reads the wrong address.
set -eu
objcopy=$1 readelf=$2 in=$3 out=$4
if "$readelf" -r "$in" | grep -q "'\.relkernel'"; then
	echo "$in: section 'kernel' needs relocations (a call, a global or a constant table);" \
	     "benchmark kernels must be one self-contained function:" >&2
	"$readelf" -r "$in" >&2
	exit 1
fi
"$objcopy" -O binary --only-section=kernel "$in" "$out"
if [ ! -s "$out" ]; then
	echo "$in: no section 'kernel' (declare the function with KERNEL(name))" >&2
	exit 1
fi
