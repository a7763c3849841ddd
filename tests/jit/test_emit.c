/*
 * Golden-byte tests of the x86-64 encoder.  Expected bytes were produced by
 * GNU as from the Intel-syntax text in each row (VEX forms with {vex3}: the
 * encoder always emits the 3-byte VEX prefix; relative jumps and nops by
 * hand from the Intel SDM); capstone cross-checks that the bytes decode to
 * exactly one instruction of that mnemonic.
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "x86_64_emit.h"

struct golden {
	const char *text; /* Intel syntax */
	const char *hex;  /* expected bytes */
};

static const struct golden cases[] = {
	{ "add rax, rbx", "48 01 d8" },
	{ "sub r13d, r15d", "45 29 fd" },
	{ "xor edi, edi", "31 ff" },
	{ "cmp r8, rsi", "49 39 f0" },
	{ "and rbx, 127", "48 83 e3 7f" },
	{ "or rax, 0x12345", "48 0d 45 23 01 00" },
	{ "cmp r14d, -129", "41 81 fe 7f ff ff ff" },
	{ "add rbp, -8", "48 83 c5 f8" },
	{ "test rcx, rdx", "48 85 d1" },
	{ "test eax, 0x1000", "a9 00 10 00 00" },
	{ "test r15, 0x7fffffff", "49 f7 c7 ff ff ff 7f" },
	{ "test bl, 5", "f6 c3 05" },
	{ "mov rdi, r13", "4c 89 ef" },
	{ "mov r11d, eax", "41 89 c3" },
	{ "xor r9d, r9d", "45 31 c9" },
	{ "mov esi, 0xffffffff", "be ff ff ff ff" },
	{ "mov rbx, -2", "48 c7 c3 fe ff ff ff" },
	{ "movabs r14, 0x123456789abcdef0", "49 be f0 de bc 9a 78 56 34 12" },
	{ "movabs rax, 1", "48 b8 01 00 00 00 00 00 00 00" },
	{ "imul rax, r15", "49 0f af c7" },
	{ "imul r8d, esi", "44 0f af c6" },
	{ "imul rbx, r13, 10", "49 6b dd 0a" },
	{ "imul ecx, ecx, 100000", "69 c9 a0 86 01 00" },
	{ "neg r14", "49 f7 de" },
	{ "div r11", "49 f7 f3" },
	{ "idiv r11d", "41 f7 fb" },
	{ "not eax", "f7 d0" },
	{ "shl rdi, 3", "48 c1 e7 03" },
	{ "shr r13d, 1", "41 d1 ed" },
	{ "sar rax, 63", "48 c1 f8 3f" },
	{ "shl r15, cl", "49 d3 e7" },
	{ "sar edx, cl", "d3 fa" },
	{ "cqo", "48 99" },
	{ "cdq", "99" },
	{ "movzx eax, sil", "40 0f b6 c6" },
	{ "movzx r9d, bl", "44 0f b6 cb" },
	{ "movzx ebx, r14w", "41 0f b7 de" },
	{ "movsx rax, dil", "48 0f be c7" },
	{ "movsx r8d, cl", "44 0f be c1" },
	{ "movsx rsi, r15w", "49 0f bf f7" },
	{ "movsxd r13, eax", "4c 63 e8" },
	{ "bswap rbx", "48 0f cb" },
	{ "bswap r14d", "41 0f ce" },
	{ "rol r13w, 8", "66 41 c1 c5 08" },
	{ "rol si, 8", "66 c1 c6 08" },
	{ "sete sil", "40 0f 94 c6" },
	{ "setg r10b", "41 0f 9f c2" },
	{ "cmovb rax, r11", "49 0f 42 c3" },
	{ "xchg rcx, rdx", "48 87 d1" },
	{ "movzx eax, byte ptr [rdi+4]", "0f b6 47 04" },
	{ "movzx r13d, word ptr [rbp-2]", "44 0f b7 6d fe" },
	{ "mov esi, dword ptr [r12]", "41 8b 34 24" },
	{ "mov rbx, qword ptr [r13]", "49 8b 5d 00" },
	{ "mov rax, qword ptr [rsp+0x1000]", "48 8b 84 24 00 10 00 00" },
	{ "movsx rdx, byte ptr [r8-1]", "49 0f be 50 ff" },
	{ "movsx r15, word ptr [rsi+200]", "4c 0f bf be c8 00 00 00" },
	{ "movsxd rcx, dword ptr [rbp-512]", "48 63 8d 00 fe ff ff" },
	{ "mov byte ptr [rbp-1], sil", "40 88 75 ff" },
	{ "mov byte ptr [rax], r14b", "44 88 30" },
	{ "mov word ptr [r13+8], ax", "66 41 89 45 08" },
	{ "mov dword ptr [rdi], ebx", "89 1f" },
	{ "mov qword ptr [rbp-8], r15", "4c 89 7d f8" },
	{ "mov byte ptr [rdi+1], 0xff", "c6 47 01 ff" },
	{ "mov word ptr [rbp-4], 0x1234", "66 c7 45 fc 34 12" },
	{ "mov dword ptr [r12+4], 7", "41 c7 44 24 04 07 00 00 00" },
	{ "mov qword ptr [rsi], -1", "48 c7 06 ff ff ff ff" },
	{ "lea r11, [rbp-16]", "4c 8d 5d f0" },
	{ "lea rax, [rdi+rsi]", "48 8d 04 37" },
	{ "lea r11, [r13+r9]", "4f 8d 5c 0d 00" },
	{ "mov rax, qword ptr [rdi+rsi*8+16]", "48 8b 44 f7 10" },
	{ "lock add qword ptr [rdi+8], rsi", "f0 48 01 77 08" },
	{ "lock or dword ptr [rbp-4], r9d", "f0 44 09 4d fc" },
	{ "sub qword ptr [r12+8], 20", "49 83 6c 24 08 14" },
	{ "cmp dword ptr [rax], 1000", "81 38 e8 03 00 00" },
	{ "lock xadd qword ptr [rdx], r10", "f0 4c 0f c1 12" },
	{ "lock xadd dword ptr [rbp-8], eax", "f0 0f c1 45 f8" },
	{ "xchg qword ptr [rsi+8], r8", "4c 87 46 08" },
	{ "lock cmpxchg dword ptr [rdi], ebx", "f0 0f b1 1f" },
	{ "lock cmpxchg qword ptr [r13+16], r15", "f0 4d 0f b1 7d 10" },
	{ "push rbp", "55" },
	{ "push r15", "41 57" },
	{ "pop r12", "41 5c" },
	{ "pop rbx", "5b" },
	{ "ret", "c3" },
	{ "leave", "c9" },
	{ "call r11", "41 ff d3" },
	{ "call rax", "ff d0" },
	{ "jmp r10", "41 ff e2" },
	{ "ud2", "0f 0b" },
	{ "jmp .+0 (rel8 to self)", "eb fe" },
	{ "jmp rel32 forced", "e9 fb 00 00 00" },
	{ "jmp rel32 (too far for rel8)", "e9 fb 00 00 00" },
	{ "je rel8 +0x10", "74 0e" },
	{ "jne rel32 -0x100", "0f 85 fa fe ff ff" },
	{ "call rel32", "e8 10 00 00 00" },
	{ "nop x3", "0f 1f 00" },
	{ "nop x11", "0f 1f 84 00 00 00 00 00 0f 1f 00" },
	{ "rep stosq", "f3 48 ab" },
	/* memory operands with an index, read-modify-write and compare with
	 * memory, lea with a scale (the peephole plan's encodings) */
	{ "mov edi, dword ptr [r14+r13]", "43 8b 3c 2e" },
	{ "movzx edx, byte ptr [r13+rcx+5]", "41 0f b6 54 0d 05" },
	{ "mov rax, qword ptr [rbp+rsi-8]", "48 8b 44 35 f8" },
	{ "movsx r8, word ptr [rdi+rbx+0x1000]", "4c 0f bf 84 1f 00 10 00 00" },
	{ "mov byte ptr [r13+rcx], r8b", "45 88 44 0d 00" },
	{ "mov byte ptr [rax+rdi], sil", "40 88 34 38" },
	{ "mov word ptr [rdx+r15+2], ax", "66 42 89 44 3a 02" },
	{ "mov qword ptr [r12+rbp], rbx", "49 89 1c 2c" },
	{ "mov byte ptr [r15+rdx], 0", "41 c6 04 17 00" },
	{ "mov dword ptr [rdi+rsi-4], 0x12345678", "c7 44 37 fc 78 56 34 12" },
	{ "add dword ptr [r8+r13], edi", "43 01 3c 28" },
	{ "sub qword ptr [rdi], r15", "4c 29 3f" },
	{ "xor byte ptr [rsi+rcx], dil", "40 30 3c 0e" },
	{ "or word ptr [rbp-2], r9w", "66 44 09 4d fe" },
	{ "add qword ptr [r13+rax+8], 1", "49 83 44 05 08 01" },
	{ "cmp byte ptr [r13+rcx], 0", "41 80 7c 0d 00 00" },
	{ "cmp byte ptr [rdi+3], 200", "80 7f 03 c8" },
	{ "cmp word ptr [rsi], 1000", "66 81 3e e8 03" },
	{ "and dword ptr [rbx+r14], -256", "42 81 24 33 00 ff ff ff" },
	{ "lea rbx, [rbx+rbx*2+1]", "48 8d 5c 5b 01" },
	{ "lea ecx, [rcx+rcx*4]", "8d 0c 89" },
	{ "lea r13, [r13+r13*8-7]", "4f 8d 6c ed f9" },
	{ "lea rbp, [rbp+rbp*2]", "48 8d 6c 6d 00" },
	{ "lea edx, [rcx+1]", "8d 51 01" },
	{ "lea r8d, [rsi+r9]", "46 8d 04 0e" },
	{ "test sil, 1", "40 f6 c6 01" },
	{ "test r15b, 0x40", "41 f6 c7 40" },
	{ "vmovdqu ymm0, ymmword ptr [r14 + r13]", "c4 81 7e 6f 04 2e" },
	{ "vmovdqu ymmword ptr [r8 + r13], ymm4", "c4 81 7e 7f 24 28" },
	{ "vpmulld ymm1, ymm0, ymm2", "c4 e2 7d 40 ca" },
	{ "vpaddd ymm4, ymm3, ymm1", "c4 e1 65 fe e1" },
	{ "vpaddb ymm9, ymm9, ymm12", "c4 41 35 fc cc" },
	{ "vmovq xmm2, rdx", "c4 e1 f9 6e d2" },
	{ "vmovq xmm10, r11", "c4 41 f9 6e d3" },
	{ "vpbroadcastd ymm2, xmm2", "c4 e2 7d 58 d2" },
	{ "vpbroadcastb ymm13, xmm13", "c4 42 7d 78 ed" },
	{ "vpsllw ymm3, ymm5, 3", "c4 e1 65 71 f5 03" },
	{ "vpsrad ymm12, ymm1, 31", "c4 e1 1d 72 e1 1f" },
	{ "vpsrlq ymm0, ymm8, 7", "c4 c1 7d 73 d0 07" },
	{ "vzeroupper", "c5 f8 77" },
	{ "vpaddd ymm0, ymm0, ymmword ptr [rip + 0x10]", "c4 e1 7d fe 05 10 00 00 00" },
	{ "vmovdqu ymm7, ymmword ptr [rbp - 8]", "c4 e1 7e 6f 7d f8" },
};

static void emit_case(int i, struct x86_emit *e)
{
	switch (i) {
	case 0: x86_alu_rr(e, X86_ADD, true, X86_RAX, X86_RBX); break;
	case 1: x86_alu_rr(e, X86_SUB, false, X86_R13, X86_R15); break;
	case 2: x86_alu_rr(e, X86_XOR, false, X86_RDI, X86_RDI); break;
	case 3: x86_alu_rr(e, X86_CMP, true, X86_R8, X86_RSI); break;
	case 4: x86_alu_ri(e, X86_AND, true, X86_RBX, 127); break;
	case 5: x86_alu_ri(e, X86_OR, true, X86_RAX, 0x12345); break;
	case 6: x86_alu_ri(e, X86_CMP, false, X86_R14, -129); break;
	case 7: x86_alu_ri(e, X86_ADD, true, X86_RBP, -8); break;
	case 8: x86_test_rr(e, true, X86_RCX, X86_RDX); break;
	case 9: x86_test_ri(e, false, X86_RAX, 0x1000); break;
	case 10: x86_test_ri(e, true, X86_R15, 0x7fffffff); break;
	case 11: x86_test_ri(e, false, X86_RBX, 5); break;
	case 12: x86_mov_rr(e, true, X86_RDI, X86_R13); break;
	case 13: x86_mov_rr(e, false, X86_R11, X86_RAX); break;
	case 14: x86_mov_imm(e, X86_R9, 0); break;
	case 15: x86_mov_imm(e, X86_RSI, 0xffffffffull); break;
	case 16: x86_mov_imm(e, X86_RBX, (uint64_t)-2); break;
	case 17: x86_mov_imm(e, X86_R14, 0x123456789abcdef0ull); break;
	case 18: x86_movabs(e, X86_RAX, 1); break;
	case 19: x86_imul_rr(e, true, X86_RAX, X86_R15); break;
	case 20: x86_imul_rr(e, false, X86_R8, X86_RSI); break;
	case 21: x86_imul_rri(e, true, X86_RBX, X86_R13, 10); break;
	case 22: x86_imul_rri(e, false, X86_RCX, X86_RCX, 100000); break;
	case 23: x86_unary(e, X86_NEG, true, X86_R14); break;
	case 24: x86_unary(e, X86_DIV, true, X86_R11); break;
	case 25: x86_unary(e, X86_IDIV, false, X86_R11); break;
	case 26: x86_unary(e, X86_NOT, false, X86_RAX); break;
	case 27: x86_shift_ri(e, X86_SHL, true, X86_RDI, 3); break;
	case 28: x86_shift_ri(e, X86_SHR, false, X86_R13, 1); break;
	case 29: x86_shift_ri(e, X86_SAR, true, X86_RAX, 63); break;
	case 30: x86_shift_cl(e, X86_SHL, true, X86_R15); break;
	case 31: x86_shift_cl(e, X86_SAR, false, X86_RDX); break;
	case 32: x86_cqo(e); break;
	case 33: x86_cdq(e); break;
	case 34: x86_movzx8_rr(e, X86_RAX, X86_RSI); break;
	case 35: x86_movzx8_rr(e, X86_R9, X86_RBX); break;
	case 36: x86_movzx16_rr(e, X86_RBX, X86_R14); break;
	case 37: x86_movsx8_rr(e, true, X86_RAX, X86_RDI); break;
	case 38: x86_movsx8_rr(e, false, X86_R8, X86_RCX); break;
	case 39: x86_movsx16_rr(e, true, X86_RSI, X86_R15); break;
	case 40: x86_movsxd_rr(e, X86_R13, X86_RAX); break;
	case 41: x86_bswap(e, true, X86_RBX); break;
	case 42: x86_bswap(e, false, X86_R14); break;
	case 43: x86_rol16_8(e, X86_R13); break;
	case 44: x86_rol16_8(e, X86_RSI); break;
	case 45: x86_setcc(e, X86_CC_E, X86_RSI); break;
	case 46: x86_setcc(e, X86_CC_G, X86_R10); break;
	case 47: x86_cmov(e, X86_CC_B, true, X86_RAX, X86_R11); break;
	case 48: x86_xchg_rr(e, X86_RCX, X86_RDX); break;
	case 49: x86_load(e, 1, X86_RAX, X86_RDI, 4); break;
	case 50: x86_load(e, 2, X86_R13, X86_RBP, -2); break;
	case 51: x86_load(e, 4, X86_RSI, X86_R12, 0); break;
	case 52: x86_load(e, 8, X86_RBX, X86_R13, 0); break;
	case 53: x86_load(e, 8, X86_RAX, X86_RSP, 0x1000); break;
	case 54: x86_load_sx(e, 1, X86_RDX, X86_R8, -1); break;
	case 55: x86_load_sx(e, 2, X86_R15, X86_RSI, 200); break;
	case 56: x86_load_sx(e, 4, X86_RCX, X86_RBP, -512); break;
	case 57: x86_store(e, 1, X86_RBP, -1, X86_RSI); break;
	case 58: x86_store(e, 1, X86_RAX, 0, X86_R14); break;
	case 59: x86_store(e, 2, X86_R13, 8, X86_RAX); break;
	case 60: x86_store(e, 4, X86_RDI, 0, X86_RBX); break;
	case 61: x86_store(e, 8, X86_RBP, -8, X86_R15); break;
	case 62: x86_store_imm(e, 1, X86_RDI, 1, -1); break;
	case 63: x86_store_imm(e, 2, X86_RBP, -4, 0x1234); break;
	case 64: x86_store_imm(e, 4, X86_R12, 4, 7); break;
	case 65: x86_store_imm(e, 8, X86_RSI, 0, -1); break;
	case 66: x86_lea(e, X86_R11, X86_RBP, -16); break;
	case 67: x86_lea_bi(e, X86_RAX, X86_RDI, X86_RSI); break;
	case 68: x86_lea_bi(e, X86_R11, X86_R13, X86_R9); break;
	case 69: x86_load_bis(e, X86_RAX, X86_RDI, X86_RSI, 8, 16); break;
	case 70: x86_alu_mr(e, true, X86_ADD, true, X86_RDI, 8, X86_RSI); break;
	case 71: x86_alu_mr(e, true, X86_OR, false, X86_RBP, -4, X86_R9); break;
	case 72: x86_alu_mi(e, X86_SUB, true, X86_R12, 8, 20); break;
	case 73: x86_alu_mi(e, X86_CMP, false, X86_RAX, 0, 1000); break;
	case 74: x86_lock_xadd(e, true, X86_RDX, 0, X86_R10); break;
	case 75: x86_lock_xadd(e, false, X86_RBP, -8, X86_RAX); break;
	case 76: x86_xchg_mr(e, true, X86_RSI, 8, X86_R8); break;
	case 77: x86_lock_cmpxchg(e, false, X86_RDI, 0, X86_RBX); break;
	case 78: x86_lock_cmpxchg(e, true, X86_R13, 16, X86_R15); break;
	case 79: x86_push(e, X86_RBP); break;
	case 80: x86_push(e, X86_R15); break;
	case 81: x86_pop(e, X86_R12); break;
	case 82: x86_pop(e, X86_RBX); break;
	case 83: x86_ret(e); break;
	case 84: x86_leave(e); break;
	case 85: x86_call_reg(e, X86_R11); break;
	case 86: x86_call_reg(e, X86_RAX); break;
	case 87: x86_jmp_reg(e, X86_R10); break;
	case 88: x86_ud2(e); break;
	case 89: x86_jmp_to(e, 0, true); break;
	case 90: x86_jmp_to(e, 0x100, false); break;
	case 91: x86_jmp_to(e, 0x100, true); break;
	case 92: x86_jcc_to(e, X86_CC_E, 0x10, true); break;
	case 93: x86_jcc_to(e, X86_CC_NE, -0x100, true); break;
	case 94: x86_call_rel32(e, 0x10); break;
	case 95: x86_nops(e, 3); break;
	case 96: x86_nops(e, 11); break;
	case 97: x86_rep_stosq(e); break;
	case 98: x86_load_m(e, 4, X86_RDI, (struct x86_mem){ X86_R14, X86_R13, 0, 1 }); break;
	case 99: x86_load_m(e, 1, X86_RDX, (struct x86_mem){ X86_R13, X86_RCX, 5, 0 }); break;
	case 100: x86_load_m(e, 8, X86_RAX, (struct x86_mem){ X86_RBP, X86_RSI, -8, 1 }); break;
	case 101: x86_load_sx_m(e, 2, X86_R8, (struct x86_mem){ X86_RDI, X86_RBX, 0x1000, 1 }); break;
	case 102: x86_store_m(e, 1, (struct x86_mem){ X86_R13, X86_RCX, 0, 1 }, X86_R8); break;
	case 103: x86_store_m(e, 1, (struct x86_mem){ X86_RAX, X86_RDI, 0, 1 }, X86_RSI); break;
	case 104: x86_store_m(e, 2, (struct x86_mem){ X86_RDX, X86_R15, 2, 1 }, X86_RAX); break;
	case 105: x86_store_m(e, 8, (struct x86_mem){ X86_R12, X86_RBP, 0, 1 }, X86_RBX); break;
	case 106: x86_store_imm_m(e, 1, (struct x86_mem){ X86_R15, X86_RDX, 0, 1 }, 0); break;
	case 107: x86_store_imm_m(e, 4, (struct x86_mem){ X86_RDI, X86_RSI, -4, 1 }, 0x12345678); break;
	case 108: x86_alu_m_r(e, X86_ADD, 4, (struct x86_mem){ X86_R8, X86_R13, 0, 1 }, X86_RDI); break;
	case 109: x86_alu_m_r(e, X86_SUB, 8, (struct x86_mem){ X86_RDI, -1, 0, 0 }, X86_R15); break;
	case 110: x86_alu_m_r(e, X86_XOR, 1, (struct x86_mem){ X86_RSI, X86_RCX, 0, 1 }, X86_RDI); break;
	case 111: x86_alu_m_r(e, X86_OR, 2, (struct x86_mem){ X86_RBP, -1, -2, 0 }, X86_R9); break;
	case 112: x86_alu_m_i(e, X86_ADD, 8, (struct x86_mem){ X86_R13, X86_RAX, 8, 1 }, 1); break;
	case 113: x86_alu_m_i(e, X86_CMP, 1, (struct x86_mem){ X86_R13, X86_RCX, 0, 1 }, 0); break;
	case 114: x86_alu_m_i(e, X86_CMP, 1, (struct x86_mem){ X86_RDI, -1, 3, 0 }, 200); break;
	case 115: x86_alu_m_i(e, X86_CMP, 2, (struct x86_mem){ X86_RSI, -1, 0, 0 }, 1000); break;
	case 116: x86_alu_m_i(e, X86_AND, 4, (struct x86_mem){ X86_RBX, X86_R14, 0, 1 }, -256); break;
	case 117: x86_lea_m(e, true, X86_RBX, (struct x86_mem){ X86_RBX, X86_RBX, 1, 2 }); break;
	case 118: x86_lea_m(e, false, X86_RCX, (struct x86_mem){ X86_RCX, X86_RCX, 0, 4 }); break;
	case 119: x86_lea_m(e, true, X86_R13, (struct x86_mem){ X86_R13, X86_R13, -7, 8 }); break;
	case 120: x86_lea_m(e, true, X86_RBP, (struct x86_mem){ X86_RBP, X86_RBP, 0, 2 }); break;
	case 121: x86_lea_m(e, false, X86_RDX, (struct x86_mem){ X86_RCX, -1, 1, 0 }); break;
	case 122: x86_lea_m(e, false, X86_R8, (struct x86_mem){ X86_RSI, X86_R9, 0, 1 }); break;
	case 123: x86_test_ri(e, false, X86_RSI, 1); break;
	case 124: x86_test_ri(e, false, X86_R15, 0x40); break;
	case 125: x86_vop_rm(e, X86_VPP_F3, X86_V0F, 0x6f, false, true, 0, -1, (struct x86_mem){ X86_R14, X86_R13, 0, 1 }); break;
	case 126: x86_vop_rm(e, X86_VPP_F3, X86_V0F, 0x7f, false, true, 4, -1, (struct x86_mem){ X86_R8, X86_R13, 0, 1 }); break;
	case 127: x86_vop_rr(e, X86_VPP_66, X86_V0F38, 0x40, false, true, 1, 0, 2); break;
	case 128: x86_vop_rr(e, X86_VPP_66, X86_V0F, 0xfe, false, true, 4, 3, 1); break;
	case 129: x86_vop_rr(e, X86_VPP_66, X86_V0F, 0xfc, false, true, 9, 9, 12); break;
	case 130: x86_vop_rr(e, X86_VPP_66, X86_V0F, 0x6e, true, false, 2, -1, X86_RDX); break;
	case 131: x86_vop_rr(e, X86_VPP_66, X86_V0F, 0x6e, true, false, 10, -1, X86_R11); break;
	case 132: x86_vop_rr(e, X86_VPP_66, X86_V0F38, 0x58, false, true, 2, -1, 2); break;
	case 133: x86_vop_rr(e, X86_VPP_66, X86_V0F38, 0x78, false, true, 13, -1, 13); break;
	case 134: x86_vshift_ri(e, 0x71, 6, 3, 5, 3); break;
	case 135: x86_vshift_ri(e, 0x72, 4, 12, 1, 31); break;
	case 136: x86_vshift_ri(e, 0x73, 2, 0, 8, 7); break;
	case 137: x86_vzeroupper(e); break;
	case 138: x86_vop_rip(e, X86_VPP_66, X86_V0F, 0xfe, false, true, 0, 0, 9 + 0x10); break;
	case 139: x86_vop_rm(e, X86_VPP_F3, X86_V0F, 0x6f, false, true, 7, -1, (struct x86_mem){ X86_RBP, -1, -8, 0 }); break;
	default: x86_fail(e, -1); break;
	}
}

static size_t parse_hex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;
	int k;
	while (sscanf(s, "%2x%n", &v, &k) == 1) {
		out[n++] = (uint8_t)v;
		s += k;
		while (*s == ' ')
			s++;
	}
	return n;
}

Test(x86_emit, golden_bytes)
{
	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		struct x86_emit e;
		uint8_t want[32];
		size_t n = parse_hex(cases[i].hex, want);
		x86_init(&e, false);
		emit_case(i, &e);
		cr_assert_eq(e.err, 0, "%s: encoder error %d", cases[i].text, e.err);
		char got[128] = "";
		for (size_t j = 0; j < e.len; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%02x ", e.buf[j]);
		cr_expect(e.len == n && memcmp(e.buf, want, n) == 0, "%s: want %s, got %s",
		          cases[i].text, cases[i].hex, got);
		x86_fini(&e);
	}
}

/* The counting pass must measure exactly what the emitting pass writes. */
Test(x86_emit, count_only_matches)
{
	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		struct x86_emit c, e;
		x86_init(&c, true);
		x86_init(&e, false);
		emit_case(i, &c);
		emit_case(i, &e);
		cr_expect_eq(c.len, e.len, "%s", cases[i].text);
		cr_expect_null(c.buf);
		x86_fini(&e);
	}
}

Test(x86_emit, capstone_cross_check)
{
	csh cs;
	cr_assert_eq(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		struct x86_emit e;
		x86_init(&e, false);
		emit_case(i, &e);
		cs_insn *insn;
		size_t cnt = cs_disasm(cs, e.buf, e.len, 0, 0, &insn);
		cr_expect(cnt >= 1, "%s: capstone cannot decode", cases[i].text);
		if (cnt >= 1) {
			size_t total = 0;
			for (size_t j = 0; j < cnt; j++)
				total += insn[j].size;
			cr_expect_eq(total, e.len, "%s: trailing bytes", cases[i].text);
			/* The first word of the text is the mnemonic (nop runs
			 * decode as several nops). */
			char mn[32];
			sscanf(cases[i].text, "%31s", mn);
			if (strcmp(mn, "jmp") && strcmp(mn, "je") && strcmp(mn, "jne") && strcmp(mn, "lock") && strcmp(mn, "rep"))
				cr_expect_str_eq(insn[0].mnemonic, mn, "%s", cases[i].text);
			cs_free(insn, cnt);
		}
		x86_fini(&e);
	}
	cs_close(&cs);
}

/* The first error sticks; later calls are ignored. */
Test(x86_emit, first_error_sticks)
{
	struct x86_emit e;
	x86_init(&e, false);
	x86_load(&e, 3, X86_RAX, X86_RDI, 0);
	cr_expect_eq(e.err, -EINVAL);
	size_t len = e.len;
	x86_ret(&e);
	x86_fail(&e, -ENOMEM);
	cr_expect_eq(e.err, -EINVAL);
	cr_expect_eq(e.len, len);
	x86_fini(&e);
}

/* Large outputs grow the buffer without a fixed limit. */
Test(x86_emit, grows)
{
	struct x86_emit e;
	x86_init(&e, false);
	for (int i = 0; i < 1000000; i++)
		x86_movabs(&e, X86_R15, (uint64_t)i);
	cr_assert_eq(e.err, 0);
	cr_expect_eq(e.len, 10000000u);
	cr_expect_eq(e.buf[9999990], 0x49);
	x86_fini(&e);
}
