/* Linux's verifier through libbpf (test_real.c), in a unit of its own: the
 * kernel's headers and bpfvm.h both define struct bpf_insn. */
#ifndef BPFVM_TEST_REAL_LINUX_H
#define BPFVM_TEST_REAL_LINUX_H

#include <stdbool.h>
#include <stddef.h>

/* Can this process load a program (root, bpf() not refused)? */
bool real_linux_bpf_allowed(void);
/* Loads (never attaches) program `prog` of the object at path; 0 if Linux
 * accepts it.  figure gets Linux's "processed N insns" line, log the end
 * of its verifier log. */
int real_linux_load(const char *path, const char *prog, char *figure, size_t fsz, char *log, size_t lsz);

#endif
