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
	maxMemoryPages       = 65536 // 4 GiB, all a 32-bit memory can address
	pagesPerMiB          = 16    // 64 KiB pages
	wasiModule           = wasi_snapshot_preview1.ModuleName
	commandStartFunction = "_start"
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
}

// Backend is the "wasm" backend: it runs WASI preview-1 modules in this
// process with wazero. It is safe for concurrent use.
type Backend struct {
	cfg   Config
	cache wazero.CompilationCache
	// keeper is a runtime that holds one reference to each recently used
	// compiled module: wazero drops a compiled module from the shared
	// cache when its last reference closes, and instances come and go.
	keeper wazero.Runtime

	mu      sync.Mutex
	modules map[[32]byte]*list.Element // of *module
	lru     list.List                  // most recently prepared first
	closed  bool

	compilations atomic.Int64 // modules compiled (or loaded from disk), for tests
}

// module is one compiled module, kept by the keeper runtime.
type module struct {
	hash     [32]byte
	once     sync.Once
	compiled wazero.CompiledModule
	err      error
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
	b := &Backend{cfg: cfg, modules: map[[32]byte]*list.Element{}}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache: %w", err)
		}
		b.cache = c
	} else {
		b.cache = wazero.NewCompilationCache()
	}
	b.keeper = wazero.NewRuntimeWithConfig(context.Background(), b.runtimeConfig(maxMemoryPages))
	return b, nil
}

// Name is "wasm".
func (b *Backend) Name() string { return "wasm" }

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
	b.modules = nil
	b.mu.Unlock()
	return errors.Join(b.keeper.Close(ctx), b.cache.Close(ctx))
}

// Prepare compiles the module (or finds it compiled) and returns an
// instance ready to start. It rejects a file that is not a WASI command
// module, volumes that are not directories, and variables a WASI
// environment cannot hold.
func (b *Backend) Prepare(ctx context.Context, spec compute.Spec) (compute.Instance, error) {
	if spec.Interface != compute.WASM && spec.Interface != "" {
		return nil, fmt.Errorf("wasm: cannot run interface %q", spec.Interface)
	}
	for k, v := range spec.Variables {
		if !validVariable(k, v) {
			return nil, fmt.Errorf("wasm: variable %q cannot be passed in an environment", k)
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

	code, err := os.ReadFile(spec.Code)
	if err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	if !bytes.HasPrefix(code, []byte("\x00asm")) {
		return nil, fmt.Errorf("wasm: %s is not a WebAssembly module (no \\0asm magic)", spec.Code)
	}
	if err := b.compile(ctx, code); err != nil {
		return nil, err
	}

	// The instance's own runtime: its own memory limit, its own
	// lifetime. Compiling again finds the code in the shared cache (it
	// still decodes and validates the binary).
	rt := wazero.NewRuntimeWithConfig(ctx, b.runtimeConfig(pages))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasm: wasi: %w", err)
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasm: invalid module: %w", err)
	}
	return newInstance(b, spec, rt, compiled, fsConfig), nil
}

// compile compiles code once, on the keeper runtime, and checks it is a
// WASI command: concurrent Prepares of one new module compile it once.
func (b *Backend) compile(ctx context.Context, code []byte) error {
	hash := sha256.Sum256(code)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errors.New("wasm: backend closed")
	}
	var m *module
	var evicted []*module
	if e, ok := b.modules[hash]; ok {
		b.lru.MoveToFront(e)
		m = e.Value.(*module)
	} else {
		m = &module{hash: hash}
		b.modules[hash] = b.lru.PushFront(m)
		for b.lru.Len() > b.cfg.MaxModules {
			old := b.lru.Remove(b.lru.Back()).(*module)
			delete(b.modules, old.hash)
			evicted = append(evicted, old)
		}
	}
	b.mu.Unlock()
	for _, old := range evicted {
		old.close() // waits for its compilation, if one is running
	}

	m.once.Do(func() {
		b.compilations.Add(1)
		m.compiled, m.err = b.keeper.CompileModule(ctx, code)
		if m.err != nil {
			m.err = fmt.Errorf("wasm: invalid module: %w", m.err)
			return
		}
		m.err = checkCommand(m.compiled)
	})
	if m.err != nil {
		b.forget(m)
	}
	return m.err
}

// forget drops a module that failed (perhaps only because ctx ended), so
// that the next Prepare tries again.
func (b *Backend) forget(m *module) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.modules[m.hash]; ok && e.Value == m {
		b.lru.Remove(e)
		delete(b.modules, m.hash)
	}
}

func (m *module) close() {
	m.once.Do(func() { m.err = errors.New("wasm: module dropped") })
	if m.compiled != nil {
		m.compiled.Close(context.Background())
	}
}

// checkCommand checks that the module only imports WASI preview-1 and is a
// command (exports _start and its memory).
func checkCommand(c wazero.CompiledModule) error {
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasiModule {
			return fmt.Errorf("wasm: module imports %s.%s: only %s is available", mod, name, wasiModule)
		}
	}
	if len(c.ImportedMemories()) > 0 {
		return errors.New("wasm: module imports its memory: it must export it")
	}
	if _, ok := c.ExportedFunctions()[commandStartFunction]; !ok {
		return fmt.Errorf("wasm: module exports no %s function: only WASI commands can run", commandStartFunction)
	}
	if len(c.ExportedMemories()) == 0 {
		return errors.New("wasm: module exports no memory")
	}
	return nil
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
			return nil, fmt.Errorf("wasm: volume mount %q is not an absolute path", v.Mount)
		}
		st, err := os.Stat(v.Source)
		if err != nil {
			return nil, fmt.Errorf("wasm: volume %s: %w", v.Mount, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("wasm: volume %s: %s is not a directory (images cannot be mounted in a module)", v.Mount, v.Source)
		}
		if v.ReadOnly {
			fc = fc.WithReadOnlyDirMount(v.Source, path.Clean(v.Mount))
		} else {
			fc = fc.WithDirMount(v.Source, path.Clean(v.Mount))
		}
	}
	return fc, nil
}
