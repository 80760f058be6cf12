/* Test helper for __test__/seccomp.test.js (built by the test with cc):
 * makes one system call with harmless arguments and prints
 * "<return value> <errno>". Arguments are chosen so that outside the
 * sandbox the call reaches the kernel and fails (or succeeds) in its own
 * way, distinct from the filter's EPERM / ENOSYS. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static long call(const char *n) {
  if (!strcmp(n, "bpf")) return syscall(SYS_bpf, 0xffff, 0, 0);
  if (!strcmp(n, "userfaultfd")) return syscall(SYS_userfaultfd, 0);
  if (!strcmp(n, "perf_event_open")) return syscall(SYS_perf_event_open, 0, 0, -1, -1, 0);
  if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
  if (!strcmp(n, "add_key")) return syscall(SYS_add_key, 0, 0, 0, 0, 0);
  if (!strcmp(n, "request_key")) return syscall(SYS_request_key, 0, 0, 0, 0);
  if (!strcmp(n, "ptrace")) return syscall(SYS_ptrace, 2 /* PEEKDATA */, 0x3ffffff0 /* no such pid */, 0, 0);
  if (!strcmp(n, "process_vm_readv")) return syscall(SYS_process_vm_readv, getpid(), 0, 0, 0, 0, 0);
  if (!strcmp(n, "process_vm_writev")) return syscall(SYS_process_vm_writev, getpid(), 0, 0, 0, 0, 0);
  if (!strcmp(n, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, 0, 0xffffffffUL);
  if (!strcmp(n, "init_module")) return syscall(SYS_init_module, 0, 0, "");
  if (!strcmp(n, "finit_module")) return syscall(SYS_finit_module, -1, "", 0);
  if (!strcmp(n, "delete_module")) return syscall(SYS_delete_module, "scriptcage_no_such_module", 0);
  if (!strcmp(n, "mount")) return syscall(SYS_mount, 0, "/scriptcage-no-such-dir", 0, 32 /* MS_REMOUNT */, 0);
  if (!strcmp(n, "umount2")) return syscall(SYS_umount2, "/scriptcage-no-such-dir", 0);
  if (!strcmp(n, "fsopen")) return syscall(SYS_fsopen, "scriptcage-no-such-fs", 0);
  if (!strcmp(n, "fspick")) return syscall(SYS_fspick, -1, "", 0);
  if (!strcmp(n, "open_tree")) return syscall(SYS_open_tree, -1, "/scriptcage-no-such-dir", 0);
  if (!strcmp(n, "move_mount")) return syscall(SYS_move_mount, -1, "", -1, "", 0);
  if (!strcmp(n, "pivot_root")) return syscall(SYS_pivot_root, "/scriptcage-no-a", "/scriptcage-no-b");
  if (!strcmp(n, "chroot")) return syscall(SYS_chroot, "/scriptcage-no-such-dir");
  if (!strcmp(n, "setns")) return syscall(SYS_setns, -1, 0);
  if (!strcmp(n, "unshare")) return syscall(SYS_unshare, CLONE_NEWUSER);
  if (!strcmp(n, "clone_newuser") || !strcmp(n, "clone_plain")) {
    long flags = SIGCHLD | (!strcmp(n, "clone_newuser") ? CLONE_NEWUSER : 0);
    long r = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    return r > 0 ? 0 : r;
  }
  if (!strcmp(n, "clone3")) return syscall(SYS_clone3, 0, 0);
  if (!strcmp(n, "io_uring_setup")) {
    char params[120];
    memset(params, 0, sizeof params);
    return syscall(SYS_io_uring_setup, 1, params);
  }
  if (!strcmp(n, "io_uring_enter")) return syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0);
  if (!strcmp(n, "io_uring_register")) return syscall(SYS_io_uring_register, -1, 0, 0, 0);
#ifdef __x86_64__
  if (!strcmp(n, "x32_getpid")) return syscall(0x40000000 | SYS_getpid);
#endif
  if (!strcmp(n, "getpid")) return getpid() > 0 ? 0 : -1;
  fprintf(stderr, "unknown probe %s\n", n);
  _exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    errno = 0;
    long r = call(argv[i]);
    printf("%s %d %d\n", argv[i], r < 0 ? -1 : (r > 0 ? 1 : 0), r < 0 ? errno : 0);
  }
  return 0;
}
