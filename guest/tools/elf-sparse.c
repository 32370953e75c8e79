// elf-sparse IN OUT: copies the guest kernel ELF, with program headers that
// leave out the page-aligned runs of padding inside its loaded segments.
//
// Why: QEMU copies every byte of every PT_LOAD segment into guest RAM and
// keeps the file mapped, so each page of the segments costs host memory twice
// per sandbox (the guest RAM page it writes and the file page it reads). The
// x86 vmlinux pads its text to 2 MiB boundaries (entry text, text/rodata gap)
// with int3 (0xcc) or zeros: about 6.5 MiB of the 15 MiB it loads. Guest RAM
// starts zeroed (anonymous memory, the runtime's memfd, a new template file),
// so a run of zeros left out is the same memory; a run of int3 padding becomes
// zeros, which nothing executes or reads either (it lies between sections, no
// symbol points into it). It relies on that: RAM pre-filled with anything else
// (a reused memory file) would leave garbage in .data's zero runs. The VM
// never reboots (-no-reboot), so QEMU loads the image once.
//
// The file's bytes are unchanged: the new program header table is appended at
// the end and e_phoff/e_phnum point at it. Other headers (the PVH note) are
// copied as they are. Only runs of at least kMinRun bytes are left out, so the
// segment count stays small.
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kPage = 4096, kMinRun = 64 * 1024, kMaxPhdrs = 64 };

static int PaddingPage(const unsigned char* p) {
  unsigned char b = p[0];
  if (b != 0x00 && b != 0xcc) return 0;
  for (int i = 1; i < kPage; i++)
    if (p[i] != b) return 0;
  return 1;
}

static unsigned char* ReadAll(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* buf = n > 0 ? malloc((size_t)n + 8 + kMaxPhdrs * sizeof(Elf64_Phdr)) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

// Appends the pieces of one PT_LOAD segment, without its padding runs, to out.
static int SplitLoad(const unsigned char* file, const Elf64_Phdr* ph, Elf64_Phdr* out, int n) {
  Elf64_Off start = 0;  // offset in the segment of the piece being built
  Elf64_Off first = (kPage - ph->p_offset % kPage) % kPage;
  for (Elf64_Off pos = first; pos + kPage <= ph->p_filesz;) {
    Elf64_Off run = pos;
    while (run + kPage <= ph->p_filesz && PaddingPage(file + ph->p_offset + run)) run += kPage;
    if (run - pos < kMinRun) {
      pos = run > pos ? run : pos + kPage;
      continue;
    }
    if (n >= kMaxPhdrs) return -1;
    Elf64_Phdr piece = *ph;  // [start, pos) keeps its bytes
    piece.p_offset += start;
    piece.p_vaddr += start;
    piece.p_paddr += start;
    piece.p_filesz = piece.p_memsz = pos - start;
    if (piece.p_filesz > 0) out[n++] = piece;
    start = run;
    pos = run;
  }
  if (start == ph->p_memsz) return n;  // the segment ended with padding
  if (n >= kMaxPhdrs) return -1;
  Elf64_Phdr rest = *ph;  // the tail, with the segment's .bss (memsz > filesz)
  rest.p_offset += start;
  rest.p_vaddr += start;
  rest.p_paddr += start;
  rest.p_filesz -= start;
  rest.p_memsz -= start;
  out[n++] = rest;
  return n;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: elf-sparse IN OUT\n");
    return 2;
  }
  size_t size;
  unsigned char* file = ReadAll(argv[1], &size);
  if (!file) {
    perror(argv[1]);
    return 1;
  }
  Elf64_Ehdr* eh = (Elf64_Ehdr*)file;
  if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > size) {
    fprintf(stderr, "elf-sparse: %s is not a 64-bit ELF\n", argv[1]);
    return 1;
  }
  Elf64_Phdr out[kMaxPhdrs];
  int n = 0;
  size_t dropped = 0;
  for (int i = 0; i < eh->e_phnum && n >= 0; i++) {
    const Elf64_Phdr* ph = (const Elf64_Phdr*)(file + eh->e_phoff) + i;
    if (ph->p_type != PT_LOAD || ph->p_offset + ph->p_filesz > size) {
      if (n < kMaxPhdrs) out[n++] = *ph;
      else n = -1;
      continue;
    }
    int before = n;
    n = SplitLoad(file, ph, out, n);
    for (int j = before; n >= 0 && j < n; j++) dropped -= out[j].p_filesz;
    dropped += ph->p_filesz;
  }
  if (n < 0) {
    fprintf(stderr, "elf-sparse: more than %d program headers\n", kMaxPhdrs);
    return 1;
  }
  size_t phoff = (size + 7) & ~(size_t)7;
  memset(file + size, 0, phoff - size);
  memcpy(file + phoff, out, (size_t)n * sizeof out[0]);
  eh->e_phoff = phoff;
  eh->e_phnum = (Elf64_Half)n;
  FILE* f = fopen(argv[2], "wb");
  if (!f || fwrite(file, 1, phoff + (size_t)n * sizeof out[0], f) != phoff + (size_t)n * sizeof out[0] ||
      fclose(f) != 0) {
    perror(argv[2]);
    return 1;
  }
  printf("%zu bytes of padding left out, %d program headers\n", dropped, n);
  return 0;
}
