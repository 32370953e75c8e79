// probe-init: a trivial static /init used to measure the guest boot floor.
//
// It does the minimum the real agent must do before it can talk to the host:
//   1. mount /proc, /sys, /dev (devtmpfs)
//   2. finit_module() every path in /etc/kata/modules.list (EEXIST ignored)
//   3. find the virtio-serial port named "agent.channel.0" and write "READY\n"
//   4. mount the 9p share (tag kataShared) and report the content of
//      probe.txt from it over the port ("9P <content>\n")
//   5. print a timing breakdown on the console, then power off.
//
// Times are CLOCK_BOOTTIME seconds since the guest kernel started its clock.
// Build: gcc -static -O2 -o probe-init probe-init.c
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "agent.channel.0"
#define SHARE_TAG "kataShared"
#define SHARE_DIR "/run/kata-shared"
#define PORT_WAIT_MS 10000

static int console_fd = -1;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  int fd = console_fd >= 0 ? console_fd : 2;
  (void)!write(fd, buf, (size_t)n);
}

static void die(const char *what) {
  say("probe: FAIL %s: %s\n", what, strerror(errno));
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

// virtio-console writes at most 32 KiB per call.
static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += w;
    len -= (size_t)w;
  }
}

static void try_mount(const char *src, const char *dst, const char *type, const char *opts) {
  mkdir(dst, 0755);
  if (mount(src, dst, type, 0, opts) != 0 && errno != EBUSY) {
    say("probe: mount %s on %s failed: %s\n", type, dst, strerror(errno));
  }
}

static int load_modules(void) {
  FILE *f = fopen("/etc/kata/modules.list", "r");
  if (!f) return 0;  // everything built in
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      say("probe: open %s: %s\n", line, strerror(errno));
      continue;
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) {
      say("probe: finit_module %s: %s\n", line, strerror(errno));
    } else {
      n++;
    }
    close(fd);
  }
  fclose(f);
  return n;
}

// Returns "vportNpM" in out if a port named PORT_NAME exists.
static int find_port(char *out, size_t outlen) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[512], name[128] = {0};
    snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t r = read(fd, name, sizeof name - 1);
    close(fd);
    if (r <= 0) continue;
    name[strcspn(name, "\n")] = 0;
    if (strcmp(name, PORT_NAME) == 0) {
      snprintf(out, outlen, "%s", e->d_name);
      found = 1;
    }
  }
  closedir(d);
  return found;
}

int main(void) {
  double t_start = now();
  try_mount("proc", "/proc", "proc", NULL);
  try_mount("sysfs", "/sys", "sysfs", NULL);
  try_mount("devtmpfs", "/dev", "devtmpfs", "mode=0755");
  console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  double t_mounts = now();

  int nmod = load_modules();
  double t_modules = now();

  char port[256];
  int waited = 0;
  while (!find_port(port, sizeof port)) {
    if (waited >= PORT_WAIT_MS) {
      errno = ENOENT;
      die("virtio port " PORT_NAME " not found");
    }
    usleep(1000);
    waited++;
  }
  double t_port_found = now();

  char dev[300];
  snprintf(dev, sizeof dev, "/dev/%s", port);
  int pfd = -1;
  for (int i = 0; i < 1000 && pfd < 0; i++) {  // devtmpfs node may lag sysfs
    pfd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (pfd < 0) usleep(1000);
  }
  if (pfd < 0) die(dev);
  // Blocks until the host side of the chardev is connected.
  if (write(pfd, "READY\n", 6) != 6) die("write READY");
  double t_ready = now();

  char msg[512];
  mkdir("/run", 0755);
  mkdir(SHARE_DIR, 0755);
  if (mount(SHARE_TAG, SHARE_DIR, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144") != 0) {
    snprintf(msg, sizeof msg, "9P FAIL mount: %s\n", strerror(errno));
  } else {
    char content[256] = {0};
    int fd = open(SHARE_DIR "/probe.txt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(msg, sizeof msg, "9P FAIL open probe.txt: %s\n", strerror(errno));
    } else {
      ssize_t r = read(fd, content, sizeof content - 1);
      close(fd);
      if (r < 0) r = 0;
      content[r] = 0;
      content[strcspn(content, "\n")] = 0;
      snprintf(msg, sizeof msg, "9P %s\n", content);
    }
  }
  double t_9p = now();
  (void)!write(pfd, msg, strlen(msg));

  char uname_r[128] = {0};
  int ufd = open("/proc/sys/kernel/osrelease", O_RDONLY | O_CLOEXEC);
  if (ufd >= 0) {
    ssize_t r = read(ufd, uname_r, sizeof uname_r - 1);
    if (r > 0) uname_r[strcspn(uname_r, "\n")] = 0;
    close(ufd);
  }
  snprintf(msg, sizeof msg,
           "TIMES init=%.3f mounts=%.3f modules=%.3f port=%.3f ready=%.3f 9p=%.3f nmod=%d release=%s\n",
           t_start, t_mounts, t_modules, t_port_found, t_ready, t_9p, nmod, uname_r);
  (void)!write(pfd, msg, strlen(msg));
  say("probe: %s", msg);

  // Debug aid: with "probe.dmesg" on the kernel command line, send the kernel
  // log (e.g. initcall_debug output gathered under `quiet`) over the port.
  char cmdline[4096] = {0};
  int cfd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (cfd >= 0) {
    (void)!read(cfd, cmdline, sizeof cmdline - 1);
    close(cfd);
  }
  if (strstr(cmdline, "probe.dmesg")) {
    int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    if (len > 0) {
      char *buf = malloc((size_t)len);
      if (buf) {
        int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
        if (n > 0) {
          (void)!write(pfd, "DMESG-BEGIN\n", 12);
          write_all(pfd, buf, (size_t)n);
          (void)!write(pfd, "DMESG-END\n", 10);
          usleep(500 * 1000);  // let QEMU drain the virtqueue before poweroff
        }
        free(buf);
      }
    }
  }
  close(pfd);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}
