// hastack_tap: a small N-API addon for Linux TUN/TAP devices.
//
// Read this first:
// - One `TapDevice` object owns one tun fd (non-blocking, O_CLOEXEC) and one AF_INET control socket
//   created in the same network namespace (for SIOCSIFMTU / SIOCSIFHWADDR / SIOCSIFFLAGS).
// - With `netns`, the calling thread setns()-es into that namespace around socket()+open()+TUNSETIFF
//   and back, so the device is born inside the namespace and nothing appears in the caller's one.
// - The device is never made persistent (TUNSETPERSIST 0): closing the fd removes it, so a crashed
//   process leaves nothing behind that blocks a restart under the same name.
// - Receive: libuv polls the fd; on readable we drain up to `rxBatch` frames with read() into ONE
//   JS-owned ArrayBuffer (packed, 8-byte aligned), write per-frame (offset, length, virtio-net header
//   fields) into a JS-owned Int32Array, then call into JS once with the count. Two ways to use the
//   buffer: every batch from offset 0 (JS copies what it keeps), or "moving" (setBuffers(...,
//   true) / setRxBuffer): each batch continues where the last one ended and bytes once read are
//   never written again, so JS may hand the frames over for good; when the rest of the buffer
//   cannot hold a largest frame, JS gives a fresh one with setRxBuffer() (if it has not, the next
//   wake-up calls it with a count of 0 instead of reading).
// - Transmit: JS packs frames (with their virtio-net header in front, when enabled) into a JS-owned
//   ArrayBuffer used as a byte ring and lists (offset, length) pairs in an Int32Array used as a ring
//   of slots. Frames are named by a sequence number (a JS number, < 2^53) and live in slot
//   seq % slots. writeBatch(startSeq, n) write()s frames startSeq.. until EAGAIN and returns how many
//   were consumed. JS keeps the rest and asks for UV_WRITABLE.
// - Optional writer thread (setTxThread(true)): writeBatch() then only *submits* the frames to a
//   pthread that does the write() syscalls while JS goes on computing (a write() to a TAP runs the
//   kernel's bridge/veth/peer-TCP path synchronously, so this moves real work off the JS thread).
//   Frames stay in the JS transmit ring until the thread has written them: writeBatch() returns
//   how many of them are done; JS must not reuse their bytes before that. Because the buffers are
//   rings, JS keeps filling the free part while the thread writes the older part (no lock-step
//   "drain everything, then rewind"); the thread publishes its progress every kProgressEvery frames
//   and txWait(ms, seq) blocks boundedly until a given frame is written. On EAGAIN the
//   thread itself poll()s for POLLOUT; when JS asked for it (pollWritable(true)) a uv_async wakes JS
//   once the submitted frames are all written. close()/env teardown drain briefly, stop and join
//   the thread before the fd is closed (exactly once) and before the buffers are released.
// - No allocation per frame here; JS exceptions thrown from callbacks become uncaught exceptions.

#include <napi.h>
#include <uv.h>

// <net/if.h> must precede the <linux/...> headers (they would redefine struct ifreq).
#include <net/if.h>
#include <net/if_arp.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace {

// Per-frame stride of the receive metadata Int32Array (see RX_* below).
constexpr int RX_STRIDE = 8;
constexpr int RX_OFF = 0, RX_LEN = 1, RX_FLAGS = 2, RX_GSO_TYPE = 3, RX_HDR_LEN = 4, RX_GSO_SIZE = 5,
              RX_CSUM_START = 6, RX_CSUM_OFFSET = 7;
// Per-frame stride of the transmit metadata Int32Array: (offset, length) of header+frame.
constexpr int TX_STRIDE = 2;
// The writer thread publishes how far it got (and wakes a waiting JS thread) every this many frames.
constexpr int64_t kProgressEvery = 32;
// Frame sequence numbers stay below 2^53 (exact JS numbers).
constexpr int64_t kMaxSeq = (int64_t)1 << 53;

// Counters exported through counters(Float64Array).
enum Counter {
  C_RX_READS, C_RX_BATCHES, C_RX_EAGAIN, C_RX_ERRORS, C_RX_SHORT, C_TX_WRITES, C_TX_EAGAIN, C_TX_ERRORS,
  C_LAST_RX_ERRNO, C_LAST_TX_ERRNO, C_WRITABLE_EVENTS, C_COUNT
};

const char* ErrnoName(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case EBADFD: return "EBADFD";
    default: return "EUNKNOWN";
  }
}

// Throws a JS Error carrying errno, code and syscall (like Node's system errors).
Napi::Value ThrowSys(Napi::Env env, int e, const char* syscall, const std::string& what, bool exists = false) {
  std::string msg = std::string(syscall) + " " + what + ": " + strerror(e);
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("errno", Napi::Number::New(env, e));
  error.Set("code", Napi::String::New(env, ErrnoName(e)));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (exists) error.Set("exists", Napi::Boolean::New(env, true));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline uint16_t Le16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }

class TapDevice : public Napi::ObjectWrap<TapDevice> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(
        env, "TapDevice",
        {
            InstanceMethod<&TapDevice::SetBuffers>("setBuffers"),
            InstanceMethod<&TapDevice::SetRxBuffer>("setRxBuffer"),
            InstanceMethod<&TapDevice::Start>("start"),
            InstanceMethod<&TapDevice::PollWritable>("pollWritable"),
            InstanceMethod<&TapDevice::WriteBatch>("writeBatch"),
            InstanceMethod<&TapDevice::SetTxThread>("setTxThread"),
            InstanceMethod<&TapDevice::TxWait>("txWait"),
            InstanceMethod<&TapDevice::ReadNow>("readNow"),
            InstanceMethod<&TapDevice::SetMtu>("setMtu"),
            InstanceMethod<&TapDevice::GetMtu>("getMtu"),
            InstanceMethod<&TapDevice::SetTxQueueLen>("setTxQueueLen"),
            InstanceMethod<&TapDevice::GetTxQueueLen>("getTxQueueLen"),
            InstanceMethod<&TapDevice::SetMac>("setMac"),
            InstanceMethod<&TapDevice::GetMac>("getMac"),
            InstanceMethod<&TapDevice::SetUp>("setUp"),
            InstanceMethod<&TapDevice::IsUp>("isUp"),
            InstanceMethod<&TapDevice::SetOffload>("setOffload"),
            InstanceMethod<&TapDevice::Counters>("counters"),
            InstanceMethod<&TapDevice::RefLoop>("ref"),
            InstanceMethod<&TapDevice::UnrefLoop>("unref"),
            InstanceMethod<&TapDevice::Close>("close"),
        });
    exports.Set("TapDevice", fn);
    exports.Set("RX_STRIDE", Napi::Number::New(env, RX_STRIDE));
    exports.Set("TX_STRIDE", Napi::Number::New(env, TX_STRIDE));
    exports.Set("COUNTERS", Napi::Number::New(env, C_COUNT));
    return exports;
  }

  // new TapDevice({ name, tun, vnetHdr, offload, netns })
  TapDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapDevice>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowType(env, "TapDevice: options object required");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    std::string name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "";
    bool tun = o.Get("tun").ToBoolean().Value();
    int vnet = o.Get("vnetHdr").IsNumber() ? o.Get("vnetHdr").As<Napi::Number>().Int32Value() : 0;
    int offload = o.Get("offload").IsNumber() ? o.Get("offload").As<Napi::Number>().Int32Value() : 0;
    std::string netns = o.Get("netns").IsString() ? o.Get("netns").As<Napi::String>().Utf8Value() : "";
    if (name.size() >= IFNAMSIZ) {
      ThrowType(env, "TapDevice: name too long");
      return;
    }
    if (vnet != 0 && vnet != 10 && vnet != 12) {
      ThrowType(env, "TapDevice: vnetHdr must be 0, 10 or 12");
      return;
    }
    tun_ = tun;
    vnet_ = vnet;
    for (double& c : counters_) c = 0;

    int origNs = -1, targetNs = -1;
    if (!netns.empty()) {
      origNs = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (origNs < 0) {
        ThrowSys(env, errno, "open", "/proc/thread-self/ns/net");
        return;
      }
      targetNs = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
      if (targetNs < 0) {
        int e = errno;
        close(origNs);
        ThrowSys(env, e, "open", netns);
        return;
      }
      if (setns(targetNs, CLONE_NEWNET) < 0) {
        int e = errno;
        close(origNs);
        close(targetNs);
        ThrowSys(env, e, "setns", netns);
        return;
      }
    }

    // Everything between here and the setns() back runs inside the target namespace.
    int err = 0;
    const char* failedCall = nullptr;
    bool exists = false;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));

    ctl_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ctl_ < 0) {
      err = errno;
      failedCall = "socket";
    }
    if (!err) {
      fd_ = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd_ < 0) {
        err = errno;
        failedCall = "open";
      }
    }
    if (!err) {
      ifr.ifr_flags = (short)((tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
      strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
      if (ioctl(fd_, TUNSETIFF, &ifr) < 0) {
        err = errno;
        failedCall = "TUNSETIFF";
        // EINVAL also means "that name belongs to a device of another kind/mode": tell them apart.
        struct ifreq q;
        memset(&q, 0, sizeof(q));
        strncpy(q.ifr_name, name.c_str(), IFNAMSIZ - 1);
        if (!name.empty() && name.find('%') == std::string::npos && ioctl(ctl_, SIOCGIFINDEX, &q) == 0) exists = true;
      }
    }
    if (!err && vnet) {
      int sz = vnet;
      if (ioctl(fd_, TUNSETVNETHDRSZ, &sz) < 0) {
        err = errno;
        failedCall = "TUNSETVNETHDRSZ";
      }
#ifdef TUNSETVNETLE
      // virtio 1.0 headers are little-endian; on little-endian hosts this is the default anyway.
      int one = 1;
      if (!err) (void)ioctl(fd_, TUNSETVNETLE, &one);
#endif
    }
    if (!err && vnet) {
      if (ioctl(fd_, TUNSETOFFLOAD, (unsigned long)offload) < 0) {
        err = errno;
        failedCall = "TUNSETOFFLOAD";
      }
    }
    if (!err) {
      // An attached leftover persistent device becomes non-persistent: it goes when we close.
      (void)ioctl(fd_, TUNSETPERSIST, 0UL);
      name_ = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
      struct ifreq q;
      memset(&q, 0, sizeof(q));
      strncpy(q.ifr_name, name_.c_str(), IFNAMSIZ - 1);
      if (ioctl(ctl_, SIOCGIFINDEX, &q) < 0) {
        err = errno;
        failedCall = "SIOCGIFINDEX";
      } else {
        ifindex_ = q.ifr_ifindex;
      }
    }

    if (origNs >= 0) {
      if (setns(origNs, CLONE_NEWNET) < 0) {
        // Continuing would run the whole JS thread inside a foreign namespace: refuse loudly.
        fprintf(stderr, "hastack_tap: setns() back to the original network namespace failed: %s\n", strerror(errno));
        abort();
      }
      close(origNs);
      close(targetNs);
    }

    if (err) {
      if (fd_ >= 0) close(fd_);
      if (ctl_ >= 0) close(ctl_);
      fd_ = ctl_ = -1;
      ThrowSys(env, err, failedCall, failedCall && strcmp(failedCall, "open") == 0 ? "/dev/net/tun" : name, exists);
      return;
    }

    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("fd", Napi::Number::New(env, fd_));
    self.Set("name", Napi::String::New(env, name_));
    self.Set("ifindex", Napi::Number::New(env, ifindex_));
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hookAdded_ = true;
  }

  ~TapDevice() override {
    // Normally close() ran; this covers a device that was dropped or torn down with the env.
    ReleaseOs(false);
    if (ctx_) {
      napi_async_destroy(Env(), ctx_);
      ctx_ = nullptr;
    }
    if (hookAdded_) napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
  }

 private:
  static void CleanupHook(void* arg) {
    TapDevice* self = static_cast<TapDevice*>(arg);
    self->hookAdded_ = false;
    self->ReleaseOs();
  }

  static void OnHandleClosed(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }
  static void OnAsyncClosed(uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); }

  // Stops the writer thread (after letting it finish the submitted frames for up to `drainMs`
  // when `drain`), polling, and closes the fds. The fd may be closed right after uv_poll_stop()
  // (libuv docs); the thread is joined before, so nothing uses the fd or the buffers afterwards.
  void ReleaseOs(bool drain = true) {
    StopWriter(drain ? 200 : 0);
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnHandleClosed);
      poll_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    if (ctl_ >= 0) close(ctl_);
    fd_ = ctl_ = -1;
  }

  bool CheckOpen(Napi::Env env) {
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(env, "device is closed");
      e.Set("code", Napi::String::New(env, "EBADF"));
      e.ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // ---- writer thread ----

  static uint64_t NowMs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  }

  // setTxThread(on): start (true) the writer thread. Turning it off again is not supported (close
  // the device instead). Needs setBuffers() first. Idempotent.
  Napi::Value SetTxThread(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    bool on = info.Length() > 0 && info[0].ToBoolean().Value();
    if (!on) {
      if (writerOn_) return ThrowType(env, "setTxThread(false): the writer thread cannot be stopped; close the device");
      return env.Undefined();
    }
    if (writerOn_) return env.Undefined();
    if (!tx_) return ThrowType(env, "setTxThread: setBuffers() first");
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) return ThrowSys(env, errno, "eventfd", name_);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    async_ = new uv_async_t;
    if (uv_async_init(loop, async_, OnAsync) < 0) {
      delete async_;
      async_ = nullptr;
      close(wakeFd_);
      wakeFd_ = -1;
      return ThrowType(env, "setTxThread: uv_async_init failed");
    }
    async_->data = this;
    // Never keeps the loop alive by itself (the poll handle does, unless unref()'d).
    uv_unref(reinterpret_cast<uv_handle_t*>(async_));
    pthread_mutex_init(&mu_, nullptr);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&work_, &ca);
    pthread_cond_init(&idle_, &ca);
    pthread_condattr_destroy(&ca);
    wStop_ = false;
    wDone_ = wTarget_ = 0;
    wBusy_ = wBlocked_ = wNotify_ = wWaiting_ = false;
    // The thread must not take the process's signals (SIGINT/SIGTERM belong to the JS thread).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&writer_, nullptr, WriterMain, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (r != 0) {
      pthread_mutex_destroy(&mu_);
      pthread_cond_destroy(&work_);
      pthread_cond_destroy(&idle_);
      uv_close(reinterpret_cast<uv_handle_t*>(async_), OnAsyncClosed);
      async_ = nullptr;
      close(wakeFd_);
      wakeFd_ = -1;
      return ThrowSys(env, r, "pthread_create", name_);
    }
    writerOn_ = true;
    return env.Undefined();
  }

  static void* WriterMain(void* arg) {
    static_cast<TapDevice*>(arg)->WriterLoop();
    return nullptr;
  }

  // Writes frames [wDone_, wTarget_) as they are submitted; publishes progress per chunk.
  void WriterLoop() {
    pthread_mutex_lock(&mu_);
    while (!wStop_) {
      if (wDone_ >= wTarget_) {
        pthread_cond_wait(&work_, &mu_);
        continue;
      }
      int64_t i = wDone_;
      const int64_t end = wTarget_;
      wBusy_ = true;
      pthread_mutex_unlock(&mu_);
      const uint8_t* tx = tx_;
      const int32_t* meta = txMeta_;
      const size_t cap = txCap_;
      const int64_t slots = (int64_t)(txMetaLen_ / TX_STRIDE);
      const int fd = fd_;
      int64_t published = i;
      bool stop = false;
      while (i < end) {
        if (i - published >= kProgressEvery) {
          // Publish progress so a JS thread waiting for ring space can go on before the chunk ends.
          published = i;
          pthread_mutex_lock(&mu_);
          wDone_ = i;
          if (wWaiting_) pthread_cond_broadcast(&idle_);
          pthread_mutex_unlock(&mu_);
        }
        const int32_t* m = meta + (i % slots) * TX_STRIDE;
        const int32_t off = m[0], len = m[1];
        if (off < 0 || len <= 0 || (size_t)off + (size_t)len > cap) {
          tErrors_.fetch_add(1, std::memory_order_relaxed);
          tLastErrno_.store(EINVAL, std::memory_order_relaxed);
          i++;
          continue;
        }
        ssize_t w = write(fd, tx + off, (size_t)len);
        if (w >= 0) {
          tWrites_.fetch_add(1, std::memory_order_relaxed);
          i++;
          continue;
        }
        const int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN) {
          tEagain_.fetch_add(1, std::memory_order_relaxed);
          // Publish progress, then wait for room in the kernel's queue (or a stop request).
          pthread_mutex_lock(&mu_);
          wDone_ = i;
          wBlocked_ = true;
          stop = wStop_;
          pthread_cond_broadcast(&idle_);
          pthread_mutex_unlock(&mu_);
          if (stop) break;
          struct pollfd pf[2] = {{fd, POLLOUT, 0}, {wakeFd_, POLLIN, 0}};
          int pr = poll(pf, 2, 1000);
          pthread_mutex_lock(&mu_);
          wBlocked_ = false;
          stop = wStop_;
          pthread_mutex_unlock(&mu_);
          if (stop) break;
          if (pr > 0 && (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL)) && !(pf[0].revents & POLLOUT)) {
            // The device is gone: drop the rest of the chunk as errors (as the synchronous path would).
            tErrors_.fetch_add((uint64_t)(end - i), std::memory_order_relaxed);
            tLastErrno_.store(EIO, std::memory_order_relaxed);
            i = end;
          }
          continue;
        }
        tErrors_.fetch_add(1, std::memory_order_relaxed);
        tLastErrno_.store(e, std::memory_order_relaxed);
        i++;
      }
      pthread_mutex_lock(&mu_);
      wDone_ = i;
      wBusy_ = false;
      if (wDone_ >= wTarget_) {
        pthread_cond_broadcast(&idle_);
        if (wNotify_ && !wStop_) {
          wNotify_ = false;
          uv_async_send(async_);
        }
      }
      if (stop) break;
    }
    pthread_mutex_unlock(&mu_);
  }

  static void OnAsync(uv_async_t* h) {
    TapDevice* self = static_cast<TapDevice*>(h->data);
    if (!self || self->fd_ < 0) return;
    self->counters_[C_WRITABLE_EVENTS]++;
    self->CallWritable();
  }

  // Waits (at most timeoutMs) until the writer has written the frames before sequence `until`
  // (-1: everything submitted) or is blocked on a full kernel queue. Returns true when everything
  // submitted is written.
  bool WaitWriter(int timeoutMs, int64_t until = -1) {
    if (!writerOn_) return true;
    uint64_t deadline = NowMs() + (uint64_t)(timeoutMs < 0 ? 0 : timeoutMs);
    pthread_mutex_lock(&mu_);
    wWaiting_ = true;
    for (;;) {
      const int64_t goal = until < 0 || until > wTarget_ ? wTarget_ : until;
      if (wDone_ >= goal || wBlocked_ || wStop_) break;
      struct timespec ts;
      ts.tv_sec = (time_t)(deadline / 1000);
      ts.tv_nsec = (long)((deadline % 1000) * 1000000);
      if (pthread_cond_timedwait(&idle_, &mu_, &ts) == ETIMEDOUT) break;
    }
    wWaiting_ = false;
    bool done = wDone_ >= wTarget_;
    pthread_mutex_unlock(&mu_);
    return done;
  }

  // txWait(timeoutMs[, untilSeq]): see WaitWriter. Returns true when all submitted frames are written.
  Napi::Value TxWait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int ms = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    int64_t until = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : -1;
    return Napi::Boolean::New(env, WaitWriter(ms, until));
  }

  // Drains (bounded), stops and joins the writer thread; closes its handles. Main thread only.
  void StopWriter(int drainMs) {
    if (!writerOn_) return;
    if (drainMs > 0) WaitWriter(drainMs);
    pthread_mutex_lock(&mu_);
    wStop_ = true;
    pthread_cond_broadcast(&work_);
    pthread_mutex_unlock(&mu_);
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof(one));
    (void)ignored;
    pthread_join(writer_, nullptr);
    writerOn_ = false;
    pthread_mutex_destroy(&mu_);
    pthread_cond_destroy(&work_);
    pthread_cond_destroy(&idle_);
    close(wakeFd_);
    wakeFd_ = -1;
    if (async_) {
      async_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(async_), OnAsyncClosed);
      async_ = nullptr;
    }
  }

  // setBuffers(rxBuf: ArrayBuffer, rxMeta: Int32Array, txBuf: ArrayBuffer, txMeta: Int32Array, readMax, rxBatch[, moving])
  Napi::Value SetBuffers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6 || !info[0].IsArrayBuffer() || !info[1].IsTypedArray() || !info[2].IsArrayBuffer() ||
        !info[3].IsTypedArray() || !info[4].IsNumber() || !info[5].IsNumber())
      return ThrowType(env, "setBuffers(rxBuf, rxMeta, txBuf, txMeta, readMax, rxBatch)");
    Napi::ArrayBuffer rx = info[0].As<Napi::ArrayBuffer>();
    Napi::TypedArray rxm = info[1].As<Napi::TypedArray>();
    Napi::ArrayBuffer tx = info[2].As<Napi::ArrayBuffer>();
    Napi::TypedArray txm = info[3].As<Napi::TypedArray>();
    if (rxm.TypedArrayType() != napi_int32_array || txm.TypedArrayType() != napi_int32_array)
      return ThrowType(env, "metadata arrays must be Int32Array");
    int64_t readMax = info[4].As<Napi::Number>().Int64Value();
    int64_t batch = info[5].As<Napi::Number>().Int64Value();
    if (readMax <= vnet_ || (size_t)readMax > rx.ByteLength() || batch < 1)
      return ThrowType(env, "setBuffers: bad readMax/rxBatch");
    Napi::Int32Array rxm32 = rxm.As<Napi::Int32Array>();
    Napi::Int32Array txm32 = txm.As<Napi::Int32Array>();
    if (txm32.ElementLength() < (size_t)TX_STRIDE) return ThrowType(env, "setBuffers: txMeta holds no slot");
    if (writerOn_) {
      // The writer reads the transmit buffers and their sizes without the lock: they may not
      // change under it — neither the memory nor the slot count (seq % slots would then name
      // other slots than JS filled, and wTarget_ - wDone_ could exceed the ring).
      if (tx.Data() != tx_ || tx.ByteLength() != txCap_ || txm32.Data() != txMeta_ || txm32.ElementLength() != txMetaLen_)
        return ThrowType(env, "setBuffers: the transmit buffers cannot change while the writer thread runs");
    }
    rxRef_ = Napi::Persistent(rx);
    rxMetaRef_ = Napi::Persistent(static_cast<Napi::Object>(rxm));
    rx_ = static_cast<uint8_t*>(rx.Data());
    rxCap_ = rx.ByteLength();
    rxMeta_ = rxm32.Data();
    rxMetaLen_ = rxm32.ElementLength();
    if (!writerOn_) {
      // (With the writer running these are equal already; not storing them again keeps the
      // thread's unlocked reads free of a concurrent write.)
      txRef_ = Napi::Persistent(tx);
      txMetaRef_ = Napi::Persistent(static_cast<Napi::Object>(txm));
      tx_ = static_cast<uint8_t*>(tx.Data());
      txCap_ = tx.ByteLength();
      txMeta_ = txm32.Data();
      txMetaLen_ = txm32.ElementLength();
    }
    readMax_ = (size_t)readMax;
    rxBatch_ = (int)batch;
    rxMoving_ = info.Length() > 6 && info[6].ToBoolean().Value();
    rxPos_ = 0;
    return env.Undefined();
  }

  // setRxBuffer(rxBuf: ArrayBuffer): a fresh receive buffer for the moving mode (see the banner);
  // the next batch starts at its offset 0. The old buffer is JS's from now on.
  Napi::Value SetRxBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArrayBuffer()) return ThrowType(env, "setRxBuffer(ArrayBuffer)");
    if (!rx_) return ThrowType(env, "setRxBuffer: setBuffers() first");
    Napi::ArrayBuffer rx = info[0].As<Napi::ArrayBuffer>();
    if (rx.ByteLength() < readMax_) return ThrowType(env, "setRxBuffer: smaller than the largest read");
    rxRef_ = Napi::Persistent(rx);
    rx_ = static_cast<uint8_t*>(rx.Data());
    rxCap_ = rx.ByteLength();
    rxMoving_ = true;
    rxPos_ = 0;
    return env.Undefined();
  }

  // start(onRx(count), onWritable()): begin polling the fd for readability.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction())
      return ThrowType(env, "start(onRx, onWritable)");
    if (!rx_) return ThrowType(env, "start: setBuffers() first");
    if (poll_) return ThrowType(env, "start: already started");
    onRx_ = Napi::Persistent(info[0].As<Napi::Function>());
    onWritable_ = Napi::Persistent(info[1].As<Napi::Function>());
    if (!ctx_) {
      napi_value resName = Napi::String::New(env, "hastack:tap");
      napi_async_init(env, nullptr, resName, &ctx_);
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd_);
    if (r < 0) {
      delete poll_;
      poll_ = nullptr;
      return ThrowSys(env, -r, "uv_poll_init", name_);
    }
    poll_->data = this;
    events_ = UV_READABLE;
    r = uv_poll_start(poll_, events_, OnPoll);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnHandleClosed);
      poll_ = nullptr;
      return ThrowSys(env, -r, "uv_poll_start", name_);
    }
    if (!unrefd_) {
      // Keep the wrapper alive while libuv holds a pointer to it.
      Ref();
      selfRefd_ = true;
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
      Ref();
      selfRefd_ = true;
    }
    return env.Undefined();
  }

  // pollWritable(on): also wake up when the fd becomes writable (backpressure).
  Napi::Value PollWritable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!poll_) return env.Undefined();
    bool on = info.Length() > 0 && info[0].ToBoolean().Value();
    if (writerOn_) {
      // The writer waits for POLLOUT itself; JS wants one wake-up once everything is written.
      pthread_mutex_lock(&mu_);
      if (!on) {
        wNotify_ = false;
      } else if (wDone_ >= wTarget_) {
        wNotify_ = false;
        uv_async_send(async_);
      } else {
        wNotify_ = true;
      }
      pthread_mutex_unlock(&mu_);
      return env.Undefined();
    }
    int ev = UV_READABLE | (on ? UV_WRITABLE : 0);
    if (ev != events_) {
      events_ = ev;
      uv_poll_start(poll_, events_, OnPoll);
    }
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    TapDevice* self = static_cast<TapDevice*>(h->data);
    if (!self || self->fd_ < 0) return;
    if (status < 0) {
      // The fd is unusable (e.g. the device was destroyed with its namespace): stop polling, or
      // level-triggered readiness would spin; tell JS once.
      uv_poll_stop(h);
      self->CallRx(status);
      return;
    }
    if (events & UV_READABLE) {
      int n = self->Drain();
      if (n > 0) {
        self->CallRx(n);
      } else if (self->rxMoving_ && self->rxPos_ + self->readMax_ > self->rxCap_ && self->fd_ >= 0) {
        // The moving buffer is used up and JS has not replaced it: ask for a new one (count 0),
        // rather than polling a readable fd we cannot read from.
        self->CallRx(0);
      }
      if (self->fd_ >= 0 && self->fatalErrno_ != 0 && self->poll_) {
        uv_poll_stop(self->poll_);
        self->CallRx(-self->fatalErrno_);
        return;
      }
    }
    if (self->fd_ >= 0 && (events & UV_WRITABLE)) {
      self->counters_[C_WRITABLE_EVENTS]++;
      self->CallWritable();
    }
  }

  // Reads up to rxBatch frames into the rx buffer; returns how many.
  int Drain() {
    int n = 0;
    size_t off = rxMoving_ ? rxPos_ : 0;
    const int vnet = vnet_;
    while (n < rxBatch_ && off + readMax_ <= rxCap_ && (size_t)(n + 1) * RX_STRIDE <= rxMetaLen_) {
      ssize_t r = read(fd_, rx_ + off, readMax_);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          counters_[C_RX_EAGAIN]++;
        } else {
          counters_[C_RX_ERRORS]++;
          counters_[C_LAST_RX_ERRNO] = errno;
          // EFAULT/EINVAL/EMSGSIZE lose one oversized frame; anything else means the device is gone.
          if (errno != EFAULT && errno != EINVAL && errno != EMSGSIZE) fatalErrno_ = errno;
        }
        break;
      }
      counters_[C_RX_READS]++;
      if (r <= vnet) {
        counters_[C_RX_SHORT]++;
        continue;
      }
      int32_t* m = rxMeta_ + n * RX_STRIDE;
      const uint8_t* p = rx_ + off;
      m[RX_OFF] = (int32_t)(off + vnet);
      m[RX_LEN] = (int32_t)(r - vnet);
      if (vnet) {
        // struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (LE).
        m[RX_FLAGS] = p[0];
        m[RX_GSO_TYPE] = p[1];
        m[RX_HDR_LEN] = Le16(p + 2);
        m[RX_GSO_SIZE] = Le16(p + 4);
        m[RX_CSUM_START] = Le16(p + 6);
        m[RX_CSUM_OFFSET] = Le16(p + 8);
      } else {
        m[RX_FLAGS] = m[RX_GSO_TYPE] = m[RX_HDR_LEN] = m[RX_GSO_SIZE] = m[RX_CSUM_START] = m[RX_CSUM_OFFSET] = 0;
      }
      off += ((size_t)r + 7) & ~(size_t)7;
      n++;
    }
    if (rxMoving_) rxPos_ = off;
    if (n > 0) counters_[C_RX_BATCHES]++;
    return n;
  }

  void Invoke(Napi::FunctionReference& fn, size_t argc, napi_value* argv) {
    if (fn.IsEmpty()) return;
    napi_env env = Env();
    Napi::HandleScope scope(Env());
    // napi_make_callback needs an object receiver (undefined would throw a TypeError).
    napi_value recv = Value(), result;
    napi_status st = napi_make_callback(env, ctx_, recv, fn.Value(), argc, argv, &result);
    if (st == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }

  void CallRx(int n) {
    Napi::HandleScope scope(Env());
    napi_value arg = Napi::Number::New(Env(), n);
    Invoke(onRx_, 1, &arg);
  }

  void CallWritable() { Invoke(onWritable_, 0, nullptr); }

  // readNow(): drain synchronously (no callback); returns the count. For tests and polling users.
  Napi::Value ReadNow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (!rx_) return ThrowType(env, "readNow: setBuffers() first");
    return Napi::Number::New(env, Drain());
  }

  // writeBatch(startSeq, n): write frames startSeq..startSeq+n-1 (frame seq lives in tx metadata
  // slot seq % slots); returns how many were consumed (written, or dropped on a hard error),
  // stopping at EAGAIN.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (!tx_) return ThrowType(env, "writeBatch: setBuffers() first");
    const int64_t start = info[0].As<Napi::Number>().Int64Value();
    const int64_t n = info[1].As<Napi::Number>().Int64Value();
    const int64_t slots = (int64_t)(txMetaLen_ / TX_STRIDE);
    // Frame numbers are JS numbers below 2^53 (see native.ts); bounding them keeps start + n (and
    // the sequence arithmetic of the writer) far from int64 overflow, whose negative remainder
    // would index before the metadata array.
    if (start < 0 || n < 0 || n > slots || start > kMaxSeq - n) return ThrowType(env, "writeBatch: range");
    if (writerOn_) {
      // Submit [start, start+n) and report how many of them are written so far.
      pthread_mutex_lock(&mu_);
      if (start > wDone_ || start + n < wTarget_) {
        pthread_mutex_unlock(&mu_);
        return ThrowType(env, "writeBatch: submission does not continue the writer's queue");
      }
      int64_t done = wDone_ - start;
      if (start + n > wTarget_) {
        wTarget_ = start + n;
        if (!wBusy_) pthread_cond_signal(&work_);
      }
      pthread_mutex_unlock(&mu_);
      return Napi::Number::New(env, (double)done);
    }
    int64_t done = 0;
    while (done < n) {
      const int32_t* m = txMeta_ + ((start + done) % slots) * TX_STRIDE;
      int32_t off = m[0], len = m[1];
      if (off < 0 || len <= 0 || (size_t)off + (size_t)len > txCap_) {
        syncErrors_++;
        counters_[C_LAST_TX_ERRNO] = EINVAL;
        done++;
        continue;
      }
      ssize_t w = write(fd_, tx_ + off, (size_t)len);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          syncEagain_++;
          break;
        }
        syncErrors_++;
        counters_[C_LAST_TX_ERRNO] = errno;
        done++;
        continue;
      }
      syncWrites_++;
      done++;
    }
    return Napi::Number::New(env, (double)done);
  }

  bool Ifreq(Napi::Env env, unsigned long req, struct ifreq* ifr, const char* syscall) {
    memset(ifr->ifr_name, 0, IFNAMSIZ);
    strncpy(ifr->ifr_name, name_.c_str(), IFNAMSIZ - 1);
    if (ioctl(ctl_, req, ifr) < 0) {
      ThrowSys(env, errno, syscall, name_);
      return false;
    }
    return true;
  }

  Napi::Value SetMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_mtu = info[0].As<Napi::Number>().Int32Value();
    Ifreq(env, SIOCSIFMTU, &ifr, "SIOCSIFMTU");
    return env.Undefined();
  }

  Napi::Value GetMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (!Ifreq(env, SIOCGIFMTU, &ifr, "SIOCGIFMTU")) return env.Undefined();
    return Napi::Number::New(env, ifr.ifr_mtu);
  }

  // setTxQueueLen(n): the kernel-side queue towards us (frames the kernel sends out of this
  // interface wait there until we read them; the tun driver drops beyond it).
  Napi::Value SetTxQueueLen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_qlen = info[0].As<Napi::Number>().Int32Value();
    Ifreq(env, SIOCSIFTXQLEN, &ifr, "SIOCSIFTXQLEN");
    return env.Undefined();
  }

  Napi::Value GetTxQueueLen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (!Ifreq(env, SIOCGIFTXQLEN, &ifr, "SIOCGIFTXQLEN")) return env.Undefined();
    return Napi::Number::New(env, ifr.ifr_qlen);
  }

  Napi::Value SetMac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "setMac(Uint8Array(6))");
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    if (a.ElementLength() != 6) return ThrowType(env, "setMac(Uint8Array(6))");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, a.Data(), 6);
    Ifreq(env, SIOCSIFHWADDR, &ifr, "SIOCSIFHWADDR");
    return env.Undefined();
  }

  Napi::Value GetMac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "getMac(Uint8Array(6))");
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    if (a.ElementLength() != 6) return ThrowType(env, "getMac(Uint8Array(6))");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (!Ifreq(env, SIOCGIFHWADDR, &ifr, "SIOCGIFHWADDR")) return env.Undefined();
    memcpy(a.Data(), ifr.ifr_hwaddr.sa_data, 6);
    return env.Undefined();
  }

  Napi::Value SetUp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    bool up = info.Length() < 1 || info[0].ToBoolean().Value();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (!Ifreq(env, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS")) return env.Undefined();
    if (up)
      ifr.ifr_flags |= IFF_UP;
    else
      ifr.ifr_flags &= ~IFF_UP;
    Ifreq(env, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS");
    return env.Undefined();
  }

  Napi::Value IsUp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (!Ifreq(env, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS")) return env.Undefined();
    return Napi::Boolean::New(env, (ifr.ifr_flags & IFF_UP) != 0);
  }

  Napi::Value SetOffload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    unsigned long flags = (unsigned long)info[0].As<Napi::Number>().Int64Value();
    if (ioctl(fd_, TUNSETOFFLOAD, flags) < 0) return ThrowSys(env, errno, "TUNSETOFFLOAD", name_);
    return env.Undefined();
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "counters(Float64Array)");
    Napi::TypedArray t = info[0].As<Napi::TypedArray>();
    if (t.TypedArrayType() != napi_float64_array) return ThrowType(env, "counters(Float64Array)");
    Napi::Float64Array f = t.As<Napi::Float64Array>();
    size_t n = f.ElementLength() < (size_t)C_COUNT ? f.ElementLength() : (size_t)C_COUNT;
    counters_[C_TX_WRITES] = (double)tWrites_.load(std::memory_order_relaxed) + syncWrites_;
    counters_[C_TX_EAGAIN] = (double)tEagain_.load(std::memory_order_relaxed) + syncEagain_;
    counters_[C_TX_ERRORS] = (double)tErrors_.load(std::memory_order_relaxed) + syncErrors_;
    if (tLastErrno_.load(std::memory_order_relaxed)) counters_[C_LAST_TX_ERRNO] = tLastErrno_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n; i++) f[i] = counters_[i];
    return env.Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    unrefd_ = false;
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    unrefd_ = true;
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ReleaseOs();
    if (hookAdded_) {
      napi_remove_env_cleanup_hook(env, CleanupHook, this);
      hookAdded_ = false;
    }
    onRx_.Reset();
    onWritable_.Reset();
    rxRef_.Reset();
    txRef_.Reset();
    rxMetaRef_.Reset();
    txMetaRef_.Reset();
    rx_ = tx_ = nullptr;
    rxMeta_ = txMeta_ = nullptr;
    rxCap_ = txCap_ = rxMetaLen_ = txMetaLen_ = 0;
    if (selfRefd_) {
      selfRefd_ = false;
      Unref();
    }
    return env.Undefined();
  }

  int fd_ = -1;
  int ctl_ = -1;
  int ifindex_ = 0;
  bool tun_ = false;
  int vnet_ = 0;
  std::string name_;
  uv_poll_t* poll_ = nullptr;
  int events_ = 0;
  int fatalErrno_ = 0;
  bool unrefd_ = false;
  bool selfRefd_ = false;
  bool hookAdded_ = false;
  napi_async_context ctx_ = nullptr;
  Napi::FunctionReference onRx_, onWritable_;
  Napi::Reference<Napi::ArrayBuffer> rxRef_, txRef_;
  Napi::ObjectReference rxMetaRef_, txMetaRef_;
  uint8_t* rx_ = nullptr;
  uint8_t* tx_ = nullptr;
  size_t rxCap_ = 0, txCap_ = 0;
  int32_t* rxMeta_ = nullptr;
  int32_t* txMeta_ = nullptr;
  size_t rxMetaLen_ = 0, txMetaLen_ = 0;
  size_t readMax_ = 0;
  int rxBatch_ = 1;
  bool rxMoving_ = false;  // see the banner: batches continue at rxPos_, never rewind
  size_t rxPos_ = 0;
  double counters_[C_COUNT];
  double syncWrites_ = 0, syncEagain_ = 0, syncErrors_ = 0;
  // Writer thread state: wDone_/wTarget_/wBusy_/wBlocked_/wNotify_/wStop_ are guarded by mu_.
  bool writerOn_ = false;
  pthread_t writer_{};
  pthread_mutex_t mu_;
  pthread_cond_t work_, idle_;
  int64_t wDone_ = 0, wTarget_ = 0;  // frame sequence numbers (see writeBatch)
  bool wBusy_ = false, wBlocked_ = false, wNotify_ = false, wStop_ = false, wWaiting_ = false;
  int wakeFd_ = -1;
  uv_async_t* async_ = nullptr;
  std::atomic<uint64_t> tWrites_{0}, tEagain_{0}, tErrors_{0};
  std::atomic<int> tLastErrno_{0};
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return TapDevice::Init(env, exports); }

}  // namespace

NODE_API_MODULE(hastack_tap, InitAll)
