# hello.s: sums the input bytes (r1 = input, r2 = its length) and returns
# the sum plus 1000, or 42 when there is no input.
#   bpfvm run --no-verify examples/hello.s                     -> r0 = 42
#   bpfvm run --no-verify examples/hello.s --mem examples/hello.s
# --no-verify (checked mode): the loop bounds its reads by the length in r2,
# not by comparing the pointer against the end, which the verifier needs.
    mov %r0, 42
    jeq %r2, 0, done
    mov %r0, 1000
loop:
    ldxb %r3, [%r1+0]
    add %r0, %r3
    add %r1, 1
    sub %r2, 1
    jne %r2, 0, loop
done:
    exit
