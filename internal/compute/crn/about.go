package crn

import (
	"bufio"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// executionsList answers GET /about/executions/list: the running
// executions in the reference's shape. Programs run without a network
// of their own here, so networking is null.
func (s *Server) executionsList(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, e := range s.pool.list() {
		out[e.Hash] = map[string]any{
			"networking":                 map[string]any{"ipv4": nil, "ipv6": nil},
			"vm_type":                    e.vmType(),
			"backend":                    e.Backend,
			"awaiting_confidential_init": false,
		}
	}
	s.instanceExecutions(out)
	writeJSON(w, http.StatusOK, out)
}

// vmType is the reference's vm_type of an execution: "persistent_program"
// for a supervised one (allocated, or persistent by its message), else
// "microvm" (an on-demand program; the reference calls those microvm
// whatever runs them).
func (e executionInfo) vmType() string {
	if e.Persistent {
		return "persistent_program"
	}
	return "microvm"
}

// executionsListV2 answers GET /v2/about/executions/list.
func (s *Server) executionsListV2(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, e := range s.pool.list() {
		out[e.Hash] = map[string]any{
			"networking": map[string]any{},
			"status": map[string]any{
				"defined_at": e.Defined.UTC(), "preparing_at": e.Defined.UTC(), "prepared_at": e.Prepared.UTC(),
				"starting_at": e.Prepared.UTC(), "started_at": e.Prepared.UTC(),
				"stopping_at": nil, "stopped_at": nil,
			},
			"running":                    true,
			"vm_type":                    e.vmType(),
			"backend":                    e.Backend,
			"awaiting_confidential_init": false,
		}
	}
	s.instanceExecutions(out)
	writeJSON(w, http.StatusOK, out)
}

// usageSystem answers GET /about/usage/system (kB are 1000 bytes, as the
// reference).
func (s *Server) usageSystem(w http.ResponseWriter, r *http.Request) {
	load := map[string]float64{"load1": 0, "load5": 0, "load15": 0}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for i, k := range []string{"load1", "load5", "load15"} {
			if i < len(f) {
				load[k], _ = strconv.ParseFloat(f[i], 64)
			}
		}
	}
	minF, maxF := cpuFrequencies()
	memTotal, memAvail := meminfo()
	var diskTotal, diskAvail uint64
	var st syscall.Statfs_t
	if syscall.Statfs(s.cfg.CacheDir, &st) == nil {
		diskTotal = st.Blocks * uint64(st.Bsize)
		diskAvail = st.Bavail * uint64(st.Bsize)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	out := map[string]any{
		"cpu": map[string]any{
			"count":            runtime.NumCPU(),
			"load_average":     load,
			"core_frequencies": map[string]any{"min": minF, "max": maxF},
		},
		"mem":    map[string]any{"total_kB": memTotal / 1000, "available_kB": memAvail / 1000},
		"disk":   map[string]any{"total_kB": diskTotal / 1000, "available_kB": diskAvail / 1000},
		"period": map[string]any{"start_timestamp": now.Format(time.RFC3339), "duration_seconds": 60},
		"properties": map[string]any{"cpu": map[string]any{
			"architecture": cpuArchitecture(), "vendor": cpuVendor(), "features": []string{},
		}},
		"gpu":    map[string]any{"devices": []any{}, "available_devices": []any{}},
		"active": true,
	}
	for name, accel := range accelerators(s.cfg) {
		// Not in the reference: how this node's VMs run ("kvm", or "tcg":
		// software emulation, seconds to boot).
		out[name] = map[string]any{"accelerator": accel}
	}
	writeJSON(w, http.StatusOK, out)
}

// accelerators maps the name of each backend that runs VMs to its
// accelerator (kvm or tcg).
func accelerators(c Config) map[string]string {
	out := map[string]string{}
	for n, b := range c.Backends {
		if a, ok := b.(interface{ Accel() string }); ok {
			out[n] = a.Accel()
		}
	}
	// The micro VM backend of instances only is not among the programs'
	// backends: it still runs VMs on its accelerator.
	if c.Instances != nil {
		out[c.Instances.Name()] = c.Instances.Accel()
	}
	return out
}

func cpuArchitecture() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return runtime.GOARCH
}

// cpuVendor is the vendor_id of /proc/cpuinfo (AuthenticAMD, GenuineIntel).
func cpuVendor() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "vendor_id" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cpuFrequencies returns the minimum and maximum core frequencies in MHz
// from cpufreq, zero where the kernel does not say.
func cpuFrequencies() (float64, float64) {
	read := func(name string) float64 {
		paths, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/" + name)
		best := 0.0
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && v/1000 > best {
				best = v / 1000
			}
		}
		return best
	}
	return read("cpuinfo_min_freq"), read("cpuinfo_max_freq")
}

// meminfo returns MemTotal and MemAvailable in bytes.
func meminfo() (total, avail uint64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "MemTotal":
			total = n * 1024
		case "MemAvailable":
			avail = n * 1024
		}
	}
	return total, avail
}

// checkFastAPI answers GET /status/check/fastapi: the check runs the
// reference's Python diagnostic program, which this node does not run yet
// (it needs the reference's runtime and its network tests), so it fails
// honestly.
func (s *Server) checkFastAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{
		"error": fmt.Sprintf("the diagnostic program %s is not run by this node yet", s.cfg.CheckProgram),
		"index": false, "environ": false, "messages": false, "dns": false, "ipv4": false, "internet": false,
		"cache": false, "persistent_storage": false, "error_handling": false, "get_a_message": false, "lifespan": false,
	})
}

// checkVersion answers GET /status/check/version?reference=X: 200 if the
// node's version is X or newer, 403 if older, 400 without X.
func (s *Server) checkVersion(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("reference")
	w.Header().Set("Content-Type", "text/plain")
	if ref == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "Query field 'reference` must be specified")
		return
	}
	if compareVersions(s.cfg.Version, ref) >= 0 {
		fmt.Fprintf(w, "Up-to-date: version %s >= %s", s.cfg.Version, ref)
		return
	}
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "Outdated: version %s < %s", s.cfg.Version, ref)
}

// compareVersions compares the numeric dot-separated prefixes of two
// versions ("1.2.3-dev" counts as 1.2.3): -1, 0 or 1.
func compareVersions(a, b string) int {
	parse := func(v string) []int {
		v = strings.TrimPrefix(v, "v")
		if i := strings.IndexAny(v, "-+"); i >= 0 {
			v = v[:i]
		}
		var out []int
		for _, p := range strings.Split(v, ".") {
			n, _ := strconv.Atoi(p)
			out = append(out, n)
		}
		return out
	}
	x, y := parse(a), parse(b)
	for i := 0; i < len(x) || i < len(y); i++ {
		var p, q int
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			if p < q {
				return -1
			}
			return 1
		}
	}
	return 0
}

// statusConfig answers GET /status/config with the public settings.
func (s *Server) statusConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"DOMAIN_NAME": s.cfg.Domain,
		"version":     s.cfg.Version,
		"references":  map[string]any{"API_SERVER": s.cfg.Client.BaseURL(), "CHECK_FASTAPI_VM_ID": s.cfg.CheckProgram},
		"security":    map[string]any{"WATCH_FOR_UPDATES": !s.cfg.NoWatch, "ALLOW_VM_NETWORKING": false},
		"computing": map[string]any{"ENABLE_QEMU_SUPPORT": len(accelerators(s.cfg)) > 0, "ENABLE_CONFIDENTIAL_COMPUTING": false,
			"ENABLE_GPU_SUPPORT": false, "BACKENDS": backendNames(s.cfg), "ACCELERATORS": accelerators(s.cfg)},
	})
}

// backendNames are the backends the node runs: those of programs and the
// one of instances, sorted.
func backendNames(c Config) []string {
	var out []string
	for n := range c.Backends {
		out = append(out, n)
	}
	if c.Instances != nil {
		if _, ok := c.Backends[c.Instances.Name()]; !ok {
			out = append(out, c.Instances.Name())
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Aleph compute node {{.Domain}}</title></head>
<body><h1>Aleph compute node</h1>
<p>goaleph {{.Version}} at <code>{{.Domain}}</code>, core node <code>{{.Core}}</code>.</p>
<p>Programs are reached at <code>https://{{.Domain}}/vm/&lt;item hash&gt;/</code> and
<code>https://&lt;base32 item hash&gt;.{{.Domain}}/</code>.</p>
<p><a href="/about/executions/list">executions</a> · <a href="/about/usage/system">usage</a> ·
<a href="/metrics">metrics</a></p></body></html>
`))

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, map[string]string{"Domain": s.cfg.Domain, "Version": s.cfg.Version, "Core": s.cfg.Client.BaseURL()})
}
