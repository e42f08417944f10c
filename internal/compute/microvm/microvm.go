// Package microvm is the compute backend that runs each program in a QEMU
// micro VM (-M microvm): a Debian kernel, the guest agent (cmd/aleph-guest)
// as init speaking the guest protocol over virtio-serial, the runtime as a
// read-only squashfs disk under a tmpfs overlay, the code as a second disk.
// Cold starts restore a snapshot of a VM booted to the agent's ready state
// (VM templating). See docs/design/0013-microvm.md.
package microvm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// Name is the backend's name in configuration.
const Name = "microvm"

// Accelerators.
const (
	KVM = "kvm"
	TCG = "tcg"
)

// Config configures the backend. The zero value of each field but Agent
// takes the documented default.
type Config struct {
	// Agent is the path of the static guest agent (CGO_ENABLED=0 go build
	// ./cmd/aleph-guest). Required.
	Agent string
	// QEMU is the emulator; default qemu-system-x86_64 on PATH.
	QEMU string
	// Kernel is the guest kernel (a bzImage) and Modules its modules
	// directory; default the newest /boot/vmlinuz-<v> and /lib/modules/<v>
	// (Debian's linux-image-cloud-amd64).
	Kernel, Modules string
	// Accel is "kvm", "tcg", or empty: KVM if a test boot proves it
	// usable, else TCG.
	Accel string
	// CacheDir keeps the initramfs and the runtimes' images; default
	// <user cache>/goaleph/microvm.
	CacheDir string
	// StateDir holds one directory per instance (sockets, overlays);
	// default os.TempDir().
	StateDir string
	// MemDir holds the snapshots' memory files; default /dev/shm.
	MemDir string
	// OverheadMiB is added to a program's memory to size its VM: the
	// guest kernel, the agent and the tmpfs metadata. Default 96.
	OverheadMiB int
	// NoSnapshots boots every VM; otherwise a VM of a runtime and shape
	// (memory, vCPUs, network) already seen is restored from a snapshot.
	NoSnapshots bool
	// CodeSlotMiB is the size of the code disk of a restored VM (the
	// snapshot's disk has that size); code of more boots its VM. Default
	// 256.
	CodeSlotMiB int
	// Slirp4netns gives a VM with internet its network namespace's way
	// out; default slirp4netns on PATH (without it, programs with
	// internet are refused).
	Slirp4netns string
	// BootTimeout bounds a boot to the agent's hello; default 2 min.
	BootTimeout time.Duration
	// StopTimeout bounds a Stop; default 10 s.
	StopTimeout time.Duration
	// LogLines is how many output lines an instance keeps; default 1000.
	LogLines int
	// Logger receives the backend's warnings; default slog.Default().
	Logger *slog.Logger
}

// Errors of New.
var (
	ErrNoQEMU   = errors.New("QEMU (qemu-system-x86_64) not found")
	ErrNoSlirp  = errors.New("microvm: a program with internet needs slirp4netns, which is not installed")
	ErrNoKernel = errors.New("no guest kernel: no /boot/vmlinuz-* with its /lib/modules (install linux-image-cloud-amd64)")
)

// Backend runs programs in micro VMs.
type Backend struct {
	cfg       Config
	qemu      string
	slirp     string
	initramfs string
	accel     string
	images    *images

	mu        sync.Mutex
	templates map[templateKey]*template
}

var _ compute.Backend = (*Backend)(nil)

// New checks the configuration, builds the initramfs and settles the
// accelerator (a test boot under KVM when Accel is empty).
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	qemu, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoQEMU, err)
	}
	mksquashfs, err := exec.LookPath("mksquashfs")
	if err != nil {
		return nil, fmt.Errorf("microvm: mksquashfs (squashfs-tools) not found: %w", err)
	}
	if cfg.Agent == "" {
		return nil, errors.New("microvm: no guest agent configured")
	}
	if cfg.Kernel == "" {
		if cfg.Kernel, cfg.Modules, err = findKernel(); err != nil {
			return nil, err
		}
	} else if cfg.Modules == "" {
		cfg.Modules = filepath.Join("/lib/modules", strings.TrimPrefix(filepath.Base(cfg.Kernel), "vmlinuz-"))
	}
	if cfg.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		cfg.CacheDir = filepath.Join(d, "goaleph", "microvm")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = os.TempDir()
	}
	if cfg.MemDir == "" {
		cfg.MemDir = "/dev/shm"
	}
	if cfg.OverheadMiB <= 0 {
		cfg.OverheadMiB = 96
	}
	if cfg.CodeSlotMiB <= 0 {
		cfg.CodeSlotMiB = 256
	}
	if cfg.Slirp4netns == "" {
		cfg.Slirp4netns = "slirp4netns"
	}
	if cfg.BootTimeout <= 0 {
		cfg.BootTimeout = 2 * time.Minute
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Backend{cfg: cfg, qemu: qemu, templates: map[templateKey]*template{},
		images: &images{dir: cfg.CacheDir, mksquashfs: mksquashfs, busy: map[string]*sync.Mutex{}}}
	if p, err := exec.LookPath(cfg.Slirp4netns); err == nil {
		b.slirp = p
	}
	if b.initramfs, err = buildInitramfs(cfg.CacheDir, cfg.Agent, cfg.Modules); err != nil {
		return nil, err
	}
	switch cfg.Accel {
	case KVM, TCG:
		b.accel = cfg.Accel
	case "":
		b.accel = cachedAccel(ctx, cfg, qemu)
	default:
		return nil, fmt.Errorf("microvm: accelerator %q is neither kvm nor tcg", cfg.Accel)
	}
	return b, nil
}

// Name returns "microvm".
func (b *Backend) Name() string { return Name }

// Accel is the accelerator the VMs run on: "kvm" or "tcg".
func (b *Backend) Accel() string { return b.accel }

// Close removes the snapshots. Running instances are the caller's to stop.
func (b *Backend) Close(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, t := range b.templates {
		t.remove()
		delete(b.templates, k)
	}
	return nil
}

// cachedAccel probes the accelerator once per host boot and kernel: the
// answer is kept in the cache directory.
func cachedAccel(ctx context.Context, cfg Config, qemu string) string {
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s", bytes.TrimSpace(boot), cfg.Kernel, qemu))
	p := filepath.Join(cfg.CacheDir, "accel-"+hex.EncodeToString(h[:8]))
	if b, err := os.ReadFile(p); err == nil && (string(b) == KVM || string(b) == TCG) {
		return string(b)
	}
	a := probeAccel(ctx, qemu, cfg.Kernel, cfg.Logger)
	if ctx.Err() == nil {
		os.WriteFile(p, []byte(a), 0o644)
	}
	return a
}

// probeAccel boots the kernel under KVM without a root: a usable KVM gets
// it to its panic ("no root") in well under the timeout; a PVM device
// (paravirtual KVM, which stock kernels hang on) or none does not.
func probeAccel(ctx context.Context, qemu, kernel string, log *slog.Logger) string {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		return TCG
	} else {
		f.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "128",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "Kernel panic") {
		return KVM
	}
	log.Info("microvm: KVM cannot boot the guest kernel here; VMs run under TCG (software emulation)")
	return TCG
}

// Prepare checks spec: the runtime directory, the code directory holding
// the entrypoint, the memory. Nothing is started.
func (b *Backend) Prepare(ctx context.Context, spec compute.Spec) (compute.Instance, error) {
	if err := check(&spec); err != nil {
		return nil, err
	}
	if spec.Internet && b.slirp == "" {
		return nil, ErrNoSlirp
	}
	return newInstance(b, spec), nil
}

func check(spec *compute.Spec) error {
	if spec.Runtime == "" {
		return errors.New("microvm: program has no runtime")
	}
	if err := isDir(spec.Runtime, "runtime"); err != nil {
		return err
	}
	for _, m := range []string{"proc", "dev", "tmp", "run", "opt/code"} {
		if st, err := os.Stat(filepath.Join(spec.Runtime, m)); err != nil || !st.IsDir() {
			return invalid("the runtime has no directory /%s", m)
		}
	}
	if err := isDir(spec.Code, "code"); err != nil {
		return err
	}
	switch spec.Interface {
	case compute.Executable:
		if !filepath.IsLocal(spec.Entrypoint) {
			return invalid("entrypoint %q is not a path inside the code", spec.Entrypoint)
		}
		st, err := os.Stat(filepath.Join(spec.Code, spec.Entrypoint))
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			return invalid("entrypoint %q: the code has no such executable file", spec.Entrypoint)
		}
	case compute.ASGI:
		mod, app, ok := strings.Cut(spec.Entrypoint, ":")
		if !ok || mod == "" || app == "" {
			return invalid("ASGI entrypoint %q is not module:app", spec.Entrypoint)
		}
	default:
		return invalid("interface %q not supported", spec.Interface)
	}
	if len(spec.Volumes) > 0 {
		return invalid("volumes are not supported by micro VMs yet")
	}
	if spec.MemoryMiB <= 0 {
		return invalid("memory %d MiB", spec.MemoryMiB)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("microvm: %s: %w", fmt.Sprintf(format, args...), compute.ErrInvalidSpec)
}

func isDir(p, what string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("microvm: %s: %w", what, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("microvm: %s %s is not a directory", what, p)
	}
	return nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
