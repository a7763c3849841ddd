/* Shared by the ELF test programs: the headers a libbpf user includes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
