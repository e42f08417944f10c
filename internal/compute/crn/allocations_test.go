package crn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

const allocationsPath = "/control/allocations"

// startAllocCRN starts a compute node like startCRN (idle timeout -1:
// on-demand executions stop after each request), its Config adjusted by
// adjust.
func startAllocCRN(t *testing.T, k *core, adjust func(*Config)) *node {
	t.Helper()
	return startCRN(t, k, crnOpts{idle: -1, adjust: adjust})
}

// allocReq is one request to POST /control/allocations; the zero fields
// take the values of a valid request.
type allocReq struct {
	signer        message.Signer // nil: no Authorization header
	body          []byte
	signedBody    []byte // body the signature covers (default body)
	method, path  string // signed method and path (default POST, allocationsPath)
	url           string // request path (default allocationsPath)
	iat           time.Time
	header        string // Authorization header instead of the signed one
	extra         http.Header
	chunked       bool // send the body without a Content-Length
	authorization func(string) string
}

func allocBody(programs, instances []string) []byte {
	if programs == nil {
		programs = []string{}
	}
	if instances == nil {
		instances = []string{}
	}
	b, _ := json.Marshal(map[string]any{"persistent_vms": programs, "instances": instances, "on_demand_vms": nil, "jobs": nil})
	return b
}

// header returns the Authorization header of r.
func (r allocReq) authHeader(t *testing.T) string {
	t.Helper()
	if r.header != "" {
		return r.header
	}
	if r.signer == nil {
		return ""
	}
	signed := r.signedBody
	if signed == nil {
		signed = r.body
	}
	method, path, iat := r.method, r.path, r.iat
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = allocationsPath
	}
	if iat.IsZero() {
		iat = time.Now()
	}
	h, err := SchedulerAuthorization(r.signer, method, path, signed, iat)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// allocate sends r and returns the status and the body.
func (n *node) allocate(t *testing.T, r allocReq) (int, string) {
	t.Helper()
	return n.allocateWith(t, r, r.authHeader(t))
}

func (n *node) allocateWith(t *testing.T, r allocReq, auth string) (int, string) {
	t.Helper()
	url := r.url
	if url == "" {
		url = allocationsPath
	}
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // unknown length: chunked
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, n.url+url, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range r.extra {
		req.Header[k] = v
	}
	resp, b := send(t, req)
	return resp.StatusCode, b
}

// wantAllocation checks an allocation answer.
func wantAllocation(t *testing.T, status int, body string, wantStatus int, successful, failing, stopped []string) allocationResult {
	t.Helper()
	var res allocationResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	norm := func(l []string) []string {
		l = slices.Clone(l)
		if l == nil {
			l = []string{}
		}
		slices.Sort(l)
		return l
	}
	if status != wantStatus || !slices.Equal(res.Successful, norm(successful)) || !slices.Equal(res.Failing, norm(failing)) ||
		!slices.Equal(res.Stopped, norm(stopped)) || res.Success != (len(failing) == 0) || len(res.Errors) != len(failing) {
		t.Fatalf("got %d %s; want %d successful %v failing %v stopped %v", status, body, wantStatus, successful, failing, stopped)
	}
	for _, h := range failing {
		if res.Errors[h] == "" {
			t.Fatalf("no error for %s: %s", h, body)
		}
	}
	return res
}

// listed returns the hashes of /about/executions/list.
func (n *node) listed(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for h := range n.vmTypes(t) {
		out[h] = true
	}
	return out
}

// vmTypes returns the vm_type of each execution of /about/executions/list.
func (n *node) vmTypes(t *testing.T) map[string]string {
	t.Helper()
	resp, body := n.get(t, "/about/executions/list")
	var l map[string]struct {
		VMType string `json:"vm_type"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("executions list: %d %s", resp.StatusCode, body)
	}
	out := map[string]string{}
	for h, e := range l {
		out[h] = e.VMType
	}
	return out
}

// TestAllocations: the scheduler's allocation starts a program that then
// runs without requests; the next allocation stops it; instances and
// broken programs fail (207, 503).
func TestAllocations(t *testing.T) {
	k := startCore(t)
	alpha := k.program(t, k.store(t, cgiModule("alpha", false), ""), programOpts{})
	beta := k.program(t, k.store(t, cgiModule("beta", false), ""), programOpts{})
	notProgram := k.store(t, []byte("not a program"), "")
	instance := strings.Repeat("ab", 32)
	sched := ethtest.Account(t)
	n := startAllocCRN(t, k, func(c *Config) { c.AllocationSigners = []string{sched.Address()} })

	if n.listed(t)[alpha] {
		t.Fatal("alpha runs before its allocation")
	}
	status, body := n.allocate(t, allocReq{signer: sched, body: allocBody([]string{alpha}, nil)})
	wantAllocation(t, status, body, 200, []string{alpha}, nil, nil)
	if vt := n.vmTypes(t)[alpha]; vt != "persistent_program" {
		t.Fatalf("alpha allocated: listed with vm_type %q, want persistent_program", vt)
	}
	if resp, body := n.get(t, "/vm/"+alpha+"/"); resp.StatusCode != 200 || body != "alpha" {
		t.Fatalf("alpha: %d %s", resp.StatusCode, body)
	}
	time.Sleep(100 * time.Millisecond)
	if !n.listed(t)[alpha] { // on-demand executions stop after each request here
		t.Fatal("the allocated program stopped after a request")
	}

	// The same allocation again (another iat: an identical payload is a
	// replay): still running, nothing stopped.
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody([]string{alpha}, nil), iat: time.Now().Add(-2 * time.Second)})
	wantAllocation(t, status, body, 200, []string{alpha}, nil, nil)

	// Reconciliation: alpha left out is stopped, beta started.
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody([]string{beta}, nil)})
	wantAllocation(t, status, body, 200, []string{beta}, nil, []string{alpha})
	if l := n.listed(t); l[alpha] || !l[beta] {
		t.Fatalf("after the reallocation: %v", l)
	}
	if n.s.supervisorDone(alpha) != nil {
		t.Fatal("alpha is still supervised")
	}

	// Partial: beta runs, the instance fails.
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody([]string{beta}, []string{instance})})
	res := wantAllocation(t, status, body, 207, []string{beta}, []string{instance}, nil)
	if !strings.Contains(res.Errors[instance], "instance") {
		t.Fatalf("instance error: %q", res.Errors[instance])
	}

	// All failing: a STORE is no program; beta, left out, is stopped.
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody([]string{notProgram}, []string{instance})})
	res = wantAllocation(t, status, body, 503, nil, []string{instance, notProgram}, []string{beta})
	if !strings.Contains(res.Errors[notProgram], "not a PROGRAM") {
		t.Fatalf("STORE error: %q", res.Errors[notProgram])
	}
	if n.s.supervisorDone(notProgram) != nil {
		t.Fatal("a program whose first start failed is still supervised")
	}
	if l := n.listed(t); len(l) != 0 {
		t.Fatalf("executions left: %v", l)
	}

	_, metrics := n.get(t, "/metrics")
	for _, want := range []string{`aleph_crn_allocations_total{result="started"} 4`, `aleph_crn_allocations_total{result="failed"} 3`,
		`aleph_crn_allocations_total{result="stopped"} 2`, `aleph_crn_allocation_requests_total{code="207"} 1`,
		`aleph_crn_allocation_requests_total{code="503"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestAllocationAuth: every way a scheduler request can fail its
// authentication or its schema.
func TestAllocationAuth(t *testing.T) {
	k := startCore(t)
	sched, stranger := ethtest.Account(t), ethtest.Account(t)
	n := startAllocCRN(t, k, func(c *Config) {
		c.AllocationSigners = []string{strings.ToLower(sched.Address())}
		c.NoWatch = true
	})
	empty := allocBody(nil, nil)

	// otherSig puts in h the signature, by sched, of another payload:
	// valid, but it recovers another address.
	otherSig := func(h string) string {
		other := allocReq{signer: sched, body: empty, iat: time.Now().Add(-time.Minute)}.authHeader(t)
		i, j := strings.Index(h, ","), strings.Index(other, ",")
		return other[:j] + h[i:]
	}
	zeroSig := func(h string) string { // r = s = 0: nothing to recover
		i := strings.Index(h, ",")
		return SchedulerAuthScheme + " sig=0x" + strings.Repeat("00", 64) + "1b" + h[i:]
	}
	cases := []struct {
		name   string
		req    allocReq
		status int
		reason string
	}{
		{"no header", allocReq{body: empty}, 401, "missing Authorization"},
		{"token scheme", allocReq{body: empty, extra: http.Header{"X-Auth-Signature": {"secret"}}}, 401, "not supported"},
		{"other scheme", allocReq{body: empty, header: "Bearer abc"}, 401, "scheme"},
		{"bad signature", allocReq{signer: sched, body: empty, authorization: otherSig}, 401, "not allowed"},
		{"unrecoverable signature", allocReq{signer: sched, body: empty, authorization: zeroSig}, 401, "invalid signature"},
		{"short signature", allocReq{signer: sched, body: empty, authorization: func(h string) string {
			i := strings.Index(h, ",payload")
			return h[:i-2] + h[i:]
		}}, 401, "65 bytes"},
		{"payload not hex", allocReq{signer: sched, body: empty, authorization: func(h string) string { return h + "zz" }}, 401, "hex"},
		{"signer not allowed", allocReq{signer: stranger, body: empty}, 401, "not allowed"},
		{"stale iat", allocReq{signer: sched, body: empty, iat: time.Now().Add(-SchedulerMaxAge - 5*time.Second)}, 401, "iat"},
		{"future iat", allocReq{signer: sched, body: empty, iat: time.Now().Add(SchedulerMaxAge + 5*time.Second)}, 401, "iat"},
		{"path mismatch", allocReq{signer: sched, body: empty, path: "/control/allocation/notify"}, 401, "signed for"},
		{"method mismatch", allocReq{signer: sched, body: empty, method: "PUT"}, 401, "signed for"},
		{"query string", allocReq{signer: sched, body: empty, url: allocationsPath + "?x=1"}, 401, "query string"},
		{"body hash mismatch", allocReq{signer: sched, body: empty, signedBody: allocBody([]string{strings.Repeat("0", 64)}, nil)}, 401, "body_sha256"},
		{"no content length", allocReq{signer: sched, body: empty, chunked: true}, 411, "Content-Length"},
		{"unknown key", allocReq{signer: sched, body: []byte(`{"persistent_vms": [], "instances": [], "vms": []}`)}, 400, "unknown field"},
		{"ill-typed", allocReq{signer: sched, body: []byte(`{"persistent_vms": "x", "instances": []}`)}, 400, "persistent_vms"},
		{"missing instances", allocReq{signer: sched, body: []byte(`{"persistent_vms": []}`)}, 400, "instances"},
		{"null persistent_vms", allocReq{signer: sched, body: []byte(`{"persistent_vms": null, "instances": []}`)}, 400, "persistent_vms"},
		{"bad hash", allocReq{signer: sched, body: []byte(`{"persistent_vms": ["abc"], "instances": []}`)}, 400, "not an item hash"},
		{"bad job", allocReq{signer: sched, body: []byte(`{"persistent_vms": [], "instances": [], "jobs": [1]}`)}, 400, "jobs"},
		{"not JSON", allocReq{signer: sched, body: []byte(`[`)}, 400, "malformed"},
		{"trailing data", allocReq{signer: sched, body: []byte(`{"persistent_vms": [], "instances": []} {}`)}, 400, "after"},
		{"empty body", allocReq{signer: sched, body: []byte{}}, 400, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.req.authHeader(t)
			if c.req.authorization != nil {
				auth = c.req.authorization(auth)
			}
			status, body := n.allocateWith(t, c.req, auth)
			if status != c.status || !strings.Contains(body, c.reason) {
				t.Fatalf("got %d %q; want %d with %q", status, body, c.status, c.reason)
			}
			if status == 401 && strings.HasPrefix(body, "{") {
				t.Fatalf("401 is text: %s", body)
			}
		})
	}

	// A valid request passes once; its replay is refused, a new signature
	// (another iat) passes.
	h := allocReq{signer: sched, body: empty}.authHeader(t)
	status, body := n.allocateWith(t, allocReq{body: empty}, h)
	wantAllocation(t, status, body, 200, nil, nil, nil)
	status, body = n.allocateWith(t, allocReq{body: empty}, h)
	if status != 401 || !strings.Contains(body, "replay") {
		t.Fatalf("replay: %d %s", status, body)
	}
	status, body = n.allocate(t, allocReq{signer: sched, body: empty, iat: time.Now().Add(-time.Second)})
	wantAllocation(t, status, body, 200, nil, nil, nil)

	// A body larger than 1 MiB is refused before it is read.
	status = rawPost(t, n, fmt.Sprintf("Content-Length: %d\r\nAuthorization: %s\r\n",
		SchedulerMaxBody+1, allocReq{signer: sched, body: empty}.authHeader(t)))
	if status != 413 {
		t.Fatalf("large body: %d", status)
	}
	_, metrics := n.get(t, "/metrics")
	if !strings.Contains(metrics, `aleph_crn_allocation_requests_total{code="401"}`) {
		t.Error("metrics lack the refused requests")
	}
}

// rawPost sends POST /control/allocations with headers (CRLF-terminated
// lines) and no body, and returns the status.
func rawPost(t *testing.T, n *node, headers string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: crn.test\r\n%s\r\n", allocationsPath, headers); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAllocationSigners: the allow-list is Config.AllocationSigners, else
// the settings aggregate, else the default signer.
func TestAllocationSigners(t *testing.T) {
	k := startCore(t)
	sched, local := ethtest.Account(t), ethtest.Account(t)
	if _, err := k.c.UpdateAggregate(t.Context(), k.a, "settings",
		map[string]any{"authorized_allocation_signers": []string{sched.Address(), "not an address"}},
		client.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	empty := allocBody(nil, nil)
	noWatch := func(c *Config) { c.NoWatch = true }

	// The settings aggregate of k.a names sched.
	fromSettings := startAllocCRN(t, k, func(c *Config) { noWatch(c); c.SettingsAddress = k.a.Address() })
	status, body := fromSettings.allocate(t, allocReq{signer: sched, body: empty})
	wantAllocation(t, status, body, 200, nil, nil, nil)
	status, body = fromSettings.allocate(t, allocReq{signer: local, body: empty})
	if status != 401 || !strings.Contains(body, "not allowed") {
		t.Fatalf("signer outside the settings: %d %s", status, body)
	}

	// Local signers take precedence over the aggregate.
	fromConfig := startAllocCRN(t, k, func(c *Config) {
		noWatch(c)
		c.SettingsAddress, c.AllocationSigners = k.a.Address(), []string{local.Address()}
	})
	status, body = fromConfig.allocate(t, allocReq{signer: local, body: empty})
	wantAllocation(t, status, body, 200, nil, nil, nil)
	status, _ = fromConfig.allocate(t, allocReq{signer: sched, body: empty})
	if status != 401 {
		t.Fatalf("aggregate signer with local signers: %d", status)
	}

	// No aggregate at the settings address: only the default signer.
	fallback := startAllocCRN(t, k, func(c *Config) { noWatch(c); c.SettingsAddress = local.Address() })
	status, _ = fallback.allocate(t, allocReq{signer: sched, body: empty})
	if status != 401 {
		t.Fatalf("without an aggregate: %d", status)
	}
	if got := fallback.s.alloc.auth.signers(t.Context()); !slices.Equal(got, []string{DefaultAllocationSigner}) {
		t.Fatalf("fallback signers %v", got)
	}

	// Config validation.
	for _, c := range []Config{{AllocationSigners: []string{"0x12"}}, {SettingsAddress: "nope"}, {Persistent: "sometimes"}} {
		c.CoreURL, c.CacheDir = k.url, t.TempDir()
		if _, err := New(c); err == nil {
			t.Errorf("New accepted %+v", c)
		}
	}
}

// TestAllocationSchedulerMode: with PersistentFromScheduler, a persistent
// program the node learns of does not run until it is allocated, and
// stops when it is left out.
func TestAllocationSchedulerMode(t *testing.T) {
	k := startCore(t)
	sched := ethtest.Account(t)
	n := startAllocCRN(t, k, func(c *Config) {
		c.Persistent, c.AllocationSigners = PersistentFromScheduler, []string{sched.Address()}
	})
	prog := k.program(t, k.store(t, cgiModule("persistent", false), ""),
		programOpts{on: map[string]any{"http": true, "persistent": true}})
	eventually(t, 20*time.Second, func() error {
		if !slices.Contains(n.s.reg.persistentPrograms(), prog) {
			return fmt.Errorf("program not learned: %w", errNotYet)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if n.s.supervisorDone(prog) != nil || n.listed(t)[prog] {
		t.Fatal("a persistent program runs before its allocation")
	}

	status, body := n.allocate(t, allocReq{signer: sched, body: allocBody([]string{prog}, nil)})
	wantAllocation(t, status, body, 200, []string{prog}, nil, nil)
	if resp, body := n.get(t, "/vm/"+prog+"/"); resp.StatusCode != 200 || body != "persistent" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	time.Sleep(100 * time.Millisecond)
	if !n.listed(t)[prog] {
		t.Fatal("the allocated program stopped after a request")
	}
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody(nil, nil)})
	wantAllocation(t, status, body, 200, nil, nil, []string{prog})
	if n.listed(t)[prog] {
		t.Fatal("the program left out still runs")
	}
}

// TestAllocationMessagesMode: in the default mode a program persistent by
// its message keeps running when the scheduler leaves it out.
func TestAllocationMessagesMode(t *testing.T) {
	k := startCore(t)
	sched := ethtest.Account(t)
	prog := k.program(t, k.store(t, cgiModule("persistent", false), ""),
		programOpts{on: map[string]any{"http": true, "persistent": true}})
	n := startAllocCRN(t, k, func(c *Config) { c.AllocationSigners = []string{sched.Address()} })
	eventually(t, 20*time.Second, func() error {
		if !n.listed(t)[prog] {
			return fmt.Errorf("persistent program not started: %w", errNotYet)
		}
		return nil
	})
	status, body := n.allocate(t, allocReq{signer: sched, body: allocBody([]string{prog}, nil)})
	wantAllocation(t, status, body, 200, []string{prog}, nil, nil)
	status, body = n.allocate(t, allocReq{signer: sched, body: allocBody(nil, nil)})
	wantAllocation(t, status, body, 200, nil, nil, nil)
	if !n.listed(t)[prog] || n.s.supervisorDone(prog) == nil {
		t.Fatal("a program persistent by its message stopped when left out of an allocation")
	}
}

// FuzzSchedulerAuth: the Authorization parser never panics and yields a
// 65-byte signature with v = 0 or 1.
func FuzzSchedulerAuth(f *testing.F) {
	a := ethtest.Account(f)
	h, err := SchedulerAuthorization(a, "POST", allocationsPath, []byte("{}"), time.Unix(1700000000, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h)
	f.Add("Aleph-EIP191-V1 sig=0x,payload=")
	f.Add("Aleph-EIP191-V1 payload=00,sig=" + strings.Repeat("1b", 65))
	f.Fuzz(func(t *testing.T, header string) {
		sig, payload, err := parseSchedulerAuth(header)
		if err != nil {
			return
		}
		if len(sig) != 65 || sig[64] > 1 {
			t.Fatalf("sig %x payload %x", sig, payload)
		}
		recoverSigner(payload, sig) // must not panic
	})
}

// FuzzAllocationBody: the body parser never panics, and what it accepts
// has both lists and only item hashes.
func FuzzAllocationBody(f *testing.F) {
	f.Add([]byte(allocBody([]string{strings.Repeat("a", 64)}, nil)))
	f.Add([]byte(`{"persistent_vms": [], "instances": [], "jobs": null}`))
	f.Add([]byte(`{"persistent_vms": "x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAllocation(body)
		if err != nil {
			return
		}
		if a.PersistentVMs == nil || a.Instances == nil {
			t.Fatal("accepted without the lists")
		}
		for _, h := range append(slices.Clone(*a.PersistentVMs), *a.Instances...) {
			if !isItemHash(h) {
				t.Fatalf("accepted %q", h)
			}
		}
	})
}
