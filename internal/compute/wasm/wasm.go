package wasm

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/goaleph/goaleph/internal/compute"
)

// Defaults of Config.
const (
	DefaultMaxModules    = 64
	DefaultLogLines      = 1000
	DefaultMaxResponse   = 64 << 20
	DefaultMemoryMiB     = 128
	DefaultReactorPool   = 4
	maxMemoryPages       = 65536 // 4 GiB, all a 32-bit memory can address
	pagesPerMiB          = 16    // 64 KiB pages
	wasiModule           = wasi_snapshot_preview1.ModuleName
	commandStartFunction = "_start"
	reactorInitFunction  = "_initialize"
	// ReactorExport is the function a reactor module exports to take a
	// request (the wasmguest package's export).
	ReactorExport = "aleph_http"
)

var errTooLarge = errors.New("response too large")

// Config configures a Backend. The zero value is usable.
type Config struct {
	// CacheDir, if set, is where compiled modules are kept on disk (by
	// wazero, per wazero version and architecture), so that a restarted
	// node does not compile again. Empty: memory only.
	CacheDir string
	// MaxModules is how many compiled modules the backend keeps in memory
	// after their instances stopped, least recently prepared dropped
	// first (DefaultMaxModules).
	MaxModules int
	// LogLines bounds each instance's Logs (DefaultLogLines).
	LogLines int
	// MaxResponseBytes bounds what a call may write on standard output
	// (DefaultMaxResponse).
	MaxResponseBytes int
	// ReactorPool bounds the module instances a reactor program keeps
	// per execution, so the calls it serves at once: the program's vCPUs
	// (at least 1), but no more than this (DefaultReactorPool). Each may
	// use the program's whole memory limit.
	ReactorPool int
}

// Backend is the "wasm" backend: it runs WASI preview-1 modules in this
// process with wazero. It is safe for concurrent use.
type Backend struct {
	cfg   Config
	cache wazero.CompilationCache

	mu sync.Mutex
	// runtimes compile and run modules, one per memory limit: wazero
	// decodes a module for a limit, and a compiled module can only be
	// instantiated by the runtime that compiled it.
	runtimes map[uint32]wazero.Runtime
	modules  map[moduleKey]*list.Element // of *module
	lru      list.List                   // most recently prepared first
	closed   bool
	// sums remembers the hash of code files already read, by identity,
	// so that preparing a known program does not read and hash its whole
	// module again (3 ms for a Go module of 3.4 MB). Cleared when full.
	sums map[fileID][32]byte

	compilations atomic.Int64 // modules compiled (or loaded from disk), for tests
}

// fileID identifies a file's content as long as nobody rewrites it within
// the same nanosecond at the same size: device, inode, size, mtime.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// maxSums bounds Backend.sums.
const maxSums = 4096

type moduleKey struct {
	hash  [32]byte
	pages uint32
}

// module is one compiled module, shared by the instances of its program
// (and of programs with the same code and memory limit). It is closed
// when it has left the LRU and its last instance stopped.
type module struct {
	key      moduleKey
	runtime  wazero.Runtime
	once     sync.Once
	compiled wazero.CompiledModule
	err      error
	reactor  bool // a reactor (see reactor.go), else a command
	refs     int  // instances, under Backend.mu
	evicted  bool // left the LRU, under Backend.mu
}

var _ compute.Backend = (*Backend)(nil)

// New returns a backend. Close it to release the compiled modules.
func New(cfg Config) (*Backend, error) {
	if cfg.MaxModules <= 0 {
		cfg.MaxModules = DefaultMaxModules
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = DefaultLogLines
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponse
	}
	if cfg.ReactorPool <= 0 {
		cfg.ReactorPool = DefaultReactorPool
	}
	b := &Backend{cfg: cfg, runtimes: map[uint32]wazero.Runtime{}, modules: map[moduleKey]*list.Element{},
		sums: map[fileID][32]byte{}}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache: %w", err)
		}
		b.cache = c
	} else {
		b.cache = wazero.NewCompilationCache()
	}
	return b, nil
}

// Name is "wasm".
func (b *Backend) Name() string { return Name }

// runtimeConfig is the configuration of every runtime of the backend.
// Everything that enters wazero's module identity (the close-on-done
// checks) must be the same for all, or they would not share compiled code.
func (b *Backend) runtimeConfig(memoryPages uint32) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().
		WithCompilationCache(b.cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(memoryPages)
}

// Close releases the compiled modules. Instances must be stopped first.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var errs []error
	for _, rt := range b.runtimes {
		errs = append(errs, rt.Close(ctx))
	}
	b.runtimes, b.modules = nil, nil
	b.mu.Unlock()
	return errors.Join(append(errs, b.cache.Close(ctx))...)
}

// Prepare compiles the module (or finds it compiled) and returns an
// instance ready to start. It rejects a file that is neither a WASI
// command nor a reactor with the ReactorExport, volumes that are not directories, and variables a WASI
// environment cannot hold.
func (b *Backend) Prepare(ctx context.Context, spec compute.Spec) (compute.Instance, error) {
	if spec.Interface != compute.WASM && spec.Interface != "" {
		return nil, fmt.Errorf("wasm: cannot run interface %q: %w", spec.Interface, compute.ErrInvalidSpec)
	}
	for k, v := range spec.Variables {
		if !validVariable(k, v) {
			return nil, fmt.Errorf("wasm: variable %q cannot be passed in an environment: %w", k, compute.ErrInvalidSpec)
		}
	}
	fsConfig, err := mounts(spec.Volumes)
	if err != nil {
		return nil, err
	}
	memMiB := spec.MemoryMiB
	if memMiB <= 0 {
		memMiB = DefaultMemoryMiB
	}
	pages := uint32(min(memMiB*pagesPerMiB, maxMemoryPages))

	sum, code, err := b.sum(spec.Code)
	if err != nil {
		return nil, err
	}
	m, err := b.compile(ctx, moduleKey{sum, pages}, func() ([]byte, error) {
		if code != nil {
			return code, nil
		}
		code, err := readModule(spec.Code)
		if err == nil && sha256.Sum256(code) != sum {
			err = fmt.Errorf("wasm: %s changed while being prepared", spec.Code)
		}
		return code, err
	})
	if err != nil {
		return nil, err
	}
	return newInstance(b, spec, m, fsConfig), nil
}

// sum returns the SHA-256 of the module at path, remembered by the file's
// identity; and the module's bytes if it had to read them.
func (b *Backend) sum(path string) ([32]byte, []byte, error) {
	var id fileID
	st, err := os.Stat(path)
	if err != nil {
		return [32]byte{}, nil, fmt.Errorf("wasm: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if ok {
		id = fileID{dev: uint64(sys.Dev), ino: sys.Ino, size: st.Size(), mtime: st.ModTime()}
		b.mu.Lock()
		sum, known := b.sums[id]
		b.mu.Unlock()
		if known {
			return sum, nil, nil
		}
	}
	code, err := readModule(path)
	if err != nil {
		return [32]byte{}, nil, err
	}
	sum := sha256.Sum256(code)
	if ok {
		b.mu.Lock()
		if len(b.sums) >= maxSums {
			clear(b.sums)
		}
		b.sums[id] = sum
		b.mu.Unlock()
	}
	return sum, code, nil
}

// readModule reads the module at path and checks its magic number.
func readModule(path string) ([]byte, error) {
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	if !bytes.HasPrefix(code, []byte("\x00asm")) {
		return nil, fmt.Errorf("wasm: the code is not a WebAssembly module (no \\0asm magic): %w", compute.ErrInvalidSpec)
	}
	return code, nil
}

// compile returns the compiled module of key (the code's hash and a
// memory limit), compiling the code load returns if needed (once, even
// for concurrent Prepares), with a reference for the caller to release.
func (b *Backend) compile(ctx context.Context, key moduleKey, load func() ([]byte, error)) (*module, error) {
	pages := key.pages
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("wasm: backend closed")
	}
	rt := b.runtimes[pages]
	if rt == nil {
		rt = wazero.NewRuntimeWithConfig(context.Background(), b.runtimeConfig(pages))
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
			b.mu.Unlock()
			rt.Close(ctx)
			return nil, fmt.Errorf("wasm: wasi: %w", err)
		}
		b.runtimes[pages] = rt
	}
	var m *module
	var evicted []*module
	if e, ok := b.modules[key]; ok {
		b.lru.MoveToFront(e)
		m = e.Value.(*module)
	} else {
		m = &module{key: key, runtime: rt}
		b.modules[key] = b.lru.PushFront(m)
		for b.lru.Len() > b.cfg.MaxModules {
			old := b.lru.Remove(b.lru.Back()).(*module)
			delete(b.modules, old.key)
			old.evicted = true
			if old.refs == 0 {
				evicted = append(evicted, old)
			}
		}
	}
	m.refs++
	b.mu.Unlock()
	for _, old := range evicted {
		old.close()
	}

	m.once.Do(func() {
		var code []byte
		if code, m.err = load(); m.err != nil {
			return
		}
		b.compilations.Add(1)
		m.compiled, m.err = rt.CompileModule(ctx, code)
		if m.err != nil {
			m.err = fmt.Errorf("wasm: invalid module: %v: %w", m.err, compute.ErrInvalidSpec)
			return
		}
		if m.reactor, m.err = checkModule(m.compiled); m.err != nil {
			m.err = fmt.Errorf("%w: %w", m.err, compute.ErrInvalidSpec)
		}
	})
	if m.err != nil {
		// Forget it, so that the next Prepare tries again (the error
		// may come from ctx).
		b.mu.Lock()
		if e, ok := b.modules[key]; ok && e.Value == m {
			b.lru.Remove(e)
			delete(b.modules, key)
			m.evicted = true
		}
		b.mu.Unlock()
		b.release(m)
		return nil, m.err
	}
	return m, nil
}

// release drops an instance's reference to m.
func (b *Backend) release(m *module) {
	b.mu.Lock()
	m.refs--
	last := m.refs == 0 && m.evicted
	b.mu.Unlock()
	if last {
		m.close()
	}
}

// close closes a module that nothing uses any more.
func (m *module) close() {
	m.once.Do(func() { m.err = errors.New("wasm: module dropped") })
	if m.compiled != nil {
		m.compiled.Close(context.Background())
	}
}

// checkModule checks that the module only imports WASI preview-1, exports
// its memory, and is a reactor (exports _initialize and ReactorExport, a
// function without parameters or results) or else a command (exports
// _start).
func checkModule(c wazero.CompiledModule) (reactor bool, err error) {
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasiModule {
			return false, fmt.Errorf("wasm: module imports %s.%s: only %s is available", mod, name, wasiModule)
		}
	}
	if len(c.ImportedMemories()) > 0 {
		return false, errors.New("wasm: module imports its memory: it must export it")
	}
	if len(c.ExportedMemories()) == 0 {
		return false, errors.New("wasm: module exports no memory")
	}
	funcs := c.ExportedFunctions()
	_, init := funcs[reactorInitFunction]
	if entry, ok := funcs[ReactorExport]; ok && init {
		if len(entry.ParamTypes()) != 0 || len(entry.ResultTypes()) != 0 {
			return false, fmt.Errorf("wasm: the module's %s takes parameters or returns results: it must do neither", ReactorExport)
		}
		return true, nil
	}
	if _, ok := funcs[commandStartFunction]; !ok {
		return false, fmt.Errorf("wasm: module exports neither %s (a WASI command) nor %s and %s (a reactor)",
			commandStartFunction, reactorInitFunction, ReactorExport)
	}
	return false, nil
}

// mounts is the file system of a program with these volumes: nothing
// without volumes, else each volume's directory at its mount point,
// read-only unless the volume says otherwise.
func mounts(vols []compute.Volume) (wazero.FSConfig, error) {
	if len(vols) == 0 {
		return nil, nil
	}
	fc := wazero.NewFSConfig()
	for _, v := range vols {
		if !path.IsAbs(v.Mount) {
			return nil, fmt.Errorf("wasm: volume mount %q is not an absolute path: %w", v.Mount, compute.ErrInvalidSpec)
		}
		st, err := os.Stat(v.Source)
		if err != nil {
			return nil, fmt.Errorf("wasm: volume %s: %w", v.Mount, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("wasm: volume %s is not a directory (images cannot be mounted in a module): %w", v.Mount, compute.ErrInvalidSpec)
		}
		if v.ReadOnly {
			fc = fc.WithReadOnlyDirMount(v.Source, path.Clean(v.Mount))
		} else {
			fc = fc.WithDirMount(v.Source, path.Clean(v.Mount))
		}
	}
	return fc, nil
}
