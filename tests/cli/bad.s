mov %r0, 1
exit %r1
