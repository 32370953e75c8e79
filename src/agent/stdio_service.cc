// Stream RPCs: ReadStdout/ReadStderr, WriteStdin, CloseStdin, TtyWinResize.
//
// Terminal processes (process.terminal): stdin and stdout are the pty master,
// ReadStderr returns end of stream at once (a terminal has one output).
// CloseStdin on a terminal does not close the master (that would hang up the
// process's terminal): it sends the terminal's EOF character (VEOF, ^D
// unless changed), which a reader in canonical mode sees as end of input --
// what `echo data | docker exec -i -t` expects. A program that put the
// terminal in raw mode just receives the byte.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/rpc_handlers.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

constexpr uint32_t kMaxReadChunk = 1 << 20;  // one ReadStdout reply stays far below the 4 MiB frame cap

Result<std::string> ReadStream(StdioEnd& end, uint32_t len) {
  int fd = end.fd();
  if (fd < 0) return std::string();
  std::string buf(std::min(std::max(len, 1u), kMaxReadChunk), '\0');
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    // Closed under us, or EIO from a pty master whose slave is gone: end of stream.
    if (n <= 0) {
      end.Close();  // nothing more will come: the fd is not kept for later calls
      return std::string();
    }
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
}

Status WriteAllTo(int fd, const std::string& d, const std::string& what, size_t* written) {
  size_t off = 0;
  while (off < d.size()) {
    ssize_t n = write(fd, d.data() + off, d.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(what);
    off += static_cast<size_t>(n);
  }
  *written = off;
  return {};
}

}  // namespace

void AgentService::RegisterStdio(ttrpc::Server& server) {
  ttrpc::Bind(server, kAgentService, "ReadStdout", this, &AgentService::ReadStdout);
  ttrpc::Bind(server, kAgentService, "ReadStderr", this, &AgentService::ReadStderr);

  ttrpc::Bind(server, kAgentService, "WriteStdin", this, &AgentService::WriteStdin);

  ttrpc::Bind(server, kAgentService, "CloseStdin", this, &AgentService::CloseStdin);

  ttrpc::Bind(server, kAgentService, "TtyWinResize", this, &AgentService::TtyWinResize);
}

Result<grpc::WriteStreamResponse> AgentService::WriteStdin(const grpc::WriteStreamRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
  int fd = p->stdin_w.fd();
  if (fd < 0) return Error(Code::kFailedPrecondition, "stdin of " + req.container_id() + " is closed");
  size_t off = 0;
  RETURN_IF_ERROR(WriteAllTo(fd, req.data(), "write stdin of " + req.container_id(), &off));
  grpc::WriteStreamResponse r;
  r.set_len(static_cast<uint32_t>(off));
  return r;
}

Result<Empty> AgentService::CloseStdin(const grpc::CloseStdinRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p,
                   table_.GetProcess(req.container_id(), req.exec_id()));
  if (!p->tty) {
    p->stdin_w.Close();
    return Empty();
  }
  int fd = p->term.fd();
  if (fd < 0) return Empty();
  struct termios t;
  std::string eof(1, '\x04');
  if (tcgetattr(fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) eof[0] = static_cast<char>(t.c_cc[VEOF]);
  size_t n = 0;
  RETURN_IF_ERROR(WriteAllTo(fd, eof, "send EOF to the terminal of " + req.container_id(), &n));
  return Empty();
}

Result<Empty> AgentService::TtyWinResize(const grpc::TtyWinResizeRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p,
                   table_.GetProcess(req.container_id(), req.exec_id()));
  int fd = p->term.fd();
  if (!p->tty || fd < 0) {
    return Error(Code::kFailedPrecondition,
                 "process " + req.exec_id() + " of " + req.container_id() + " has no terminal");
  }
  if (req.row() > 0xffff || req.column() > 0xffff) {
    return Error(Code::kInvalidArgument, "window size out of range");
  }
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(req.row());
  ws.ws_col = static_cast<unsigned short>(req.column());
  // On the master: the kernel sends SIGWINCH to the foreground group.
  if (ioctl(fd, TIOCSWINSZ, &ws) != 0) return ErrnoError("resize terminal of " + req.container_id());
  return Empty();
}

Result<grpc::ReadStreamResponse> AgentService::ReadOutput(const grpc::ReadStreamRequest& req, bool err) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
  ASSIGN_OR_RETURN(std::string data, ReadStream(err ? p->stderr_r : p->stdout_r, req.len()));
  if (data.empty()) table_.RetireExecIfDone(req.container_id(), p);
  grpc::ReadStreamResponse r;
  r.set_data(std::move(data));
  return r;
}

Result<grpc::ReadStreamResponse> AgentService::ReadStdout(const grpc::ReadStreamRequest& req) { return ReadOutput(req, false); }

Result<grpc::ReadStreamResponse> AgentService::ReadStderr(const grpc::ReadStreamRequest& req) { return ReadOutput(req, true); }

}  // namespace kata::agent
