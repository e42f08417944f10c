package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goaleph/goaleph/internal/files"
)

// TestAddJSONPeakRSS measures, in child processes, the peak resident
// memory add_json needs for a 25 MB JSON array, one request and four at
// once (and eight, beyond the concurrency limit, for the new one), with the token-level canonicaliser ("new") and with the
// decode-based one it replaced ("old"). It runs with GOALEPH_RSS=1 only
// (it takes seconds and a gigabyte or more for the old mode).
func TestAddJSONPeakRSS(t *testing.T) {
	if os.Getenv("GOALEPH_RSS") == "" {
		t.Skip("set GOALEPH_RSS=1 to measure")
	}
	const bodySize = 25_000_000
	for _, mode := range []string{"old", "new"} {
		counts := []int{1, 4}
		if mode == "new" {
			counts = append(counts, 8) // beyond maxConcurrentJSON: they queue
		}
		for _, n := range counts {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAddJSONRSSChild$")
			cmd.Env = append(os.Environ(), "ADDJSON_MODE="+mode, "ADDJSON_N="+strconv.Itoa(n), "ADDJSON_SIZE="+strconv.Itoa(bodySize))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s x%d: %v\n%s", mode, n, err, out)
			}
			var peak int64
			for _, l := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, "PEAK "); ok {
					peak, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			t.Logf("%s canonicaliser, %d request(s) at once: peak RSS %d MB above the baseline (%.1fx the body per request)",
				mode, n, peak>>20, float64(peak)/float64(n)/bodySize)
			if mode == "new" && peak > 4*bodySize*int64(min(n, maxConcurrentJSON)) {
				t.Errorf("new x%d: peak %d bytes, more than 4x the body per request", n, peak)
			}
		}
	}
}

// TestAddJSONRSSChild is the measured process of TestAddJSONPeakRSS.
func TestAddJSONRSSChild(t *testing.T) {
	mode := os.Getenv("ADDJSON_MODE")
	if mode == "" {
		t.Skip("run by TestAddJSONPeakRSS")
	}
	n, _ := strconv.Atoi(os.Getenv("ADDJSON_N"))
	size, _ := strconv.Atoi(os.Getenv("ADDJSON_SIZE"))
	body := jsonArray(size)
	e := newEnv(t)
	var h http.Handler = e.srv
	if mode == "old" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultLimits.MaxUnauthenticatedSize))
			canon, err := decodeCanonicalJSON(b)
			if err != nil {
				http.Error(w, err.Error(), 422)
				return
			}
			if _, err := e.files.Add(r.Context(), files.Native, bytes.NewReader(canon), files.AddOptions{}); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := resetPeakRSS(t)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srv.URL+"/api/v0/storage/add_json", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("PEAK %d\n", procStatus(t, "VmHWM")-base)
}

// jsonArray builds a JSON array of about size bytes of small objects,
// numbers and strings.
func jsonArray(size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < size-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `{"id":%d,"name":"item %d","ok":true}`, i, i)
		case 1:
			fmt.Fprintf(&b, `%d.25`, i)
		default:
			fmt.Fprintf(&b, `"string value %d"`, i)
		}
	}
	b.WriteByte(']')
	return b.Bytes()
}

// resetPeakRSS resets the process's peak RSS (VmHWM) to its current RSS
// and returns that RSS in bytes.
func resetPeakRSS(t *testing.T) int64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	return procStatus(t, "VmRSS")
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skipf("no %s in /proc/self/status", field)
	return 0
}
