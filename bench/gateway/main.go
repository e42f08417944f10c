// Command gateway measures what the gateway adds to a call of a compute
// node, on this machine.
//
// It starts in this process a one-node devnet core, an HTTP server
// standing for a compute node with a warm program (it answers
// /vm/<hash>/… at once with a small body, so what is measured is the
// gateway, not a program), announces that server as running the program
// (its executions aggregate, docs/design/0007), and runs the gateway
// (gateway.NewRole) with an HTTP and an HTTPS listener, the HTTPS one with
// a self-signed certificate for the program's host (no ACME). Then, for
// each subject:
//
//   - direct: the "compute node" called directly, plain HTTP;
//   - http: through the gateway's HTTP listener (Host
//     <base32 hash>.<zone>);
//   - https: through its HTTPS listener, keep-alive connections, TLS 1.3
//     with a session cache;
//   - https-resume (throughput only): a new connection per request, each
//     resuming the TLS session of an earlier one (the share resumed is
//     reported).
//
// latency is p50/p99 (nearest rank) of -n sequential requests on one
// keep-alive connection, time to the end of the body; overhead is a
// subject's p50 minus direct's. throughput is requests/s of -c concurrent
// keep-alive clients, errors counted. The subjects are measured in turns
// (-rounds rounds, each subject in each round), so that the machine's
// load, which changes, weighs on them alike. The load generator runs in
// the same process as the gateway and the server: on a small machine they
// share its CPUs, and a request through the gateway costs two HTTP
// exchanges where a direct one costs one; -work gives the stand-in
// compute node CPU work per answer, as a real program has, which is then
// what bounds the throughput, as in production where the gateway has CPUs
// of its own. It prints a table, the load average, and one
// "RESULT key=value …" line. It measures; it asserts nothing.
//
//	go run ./bench/gateway
//	go run ./bench/gateway -c 100 -d 3s -n 5000
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/gateway"
)

const zone = "gw.bench"

func main() {
	n := flag.Int("n", 3000, "sequential requests per latency measurement (split over the rounds)")
	conc := flag.Int("c", 100, "concurrent connections of the throughput measurements")
	dur := flag.Duration("d", 3*time.Second, "duration of each throughput measurement (split over the rounds)")
	rounds := flag.Int("rounds", 3, "rounds of the subjects, measured in turns")
	work := flag.Duration("work", 0, "CPU time the stand-in compute node spends on each answer (a program's own work; 0: none)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *n, *conc, *dur, max(*rounds, 1), *work); err != nil {
		log.Print(err)
		stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// subject is one way of calling the program.
type subject struct {
	name    string
	base    string // the subject it is compared with
	latency bool   // measured for latency too
	url     string // of the request
	host    string // its Host header
	client  func(conns int) *http.Client
}

func run(ctx context.Context, n, conc int, dur time.Duration, rounds int, work time.Duration) error {
	quiet := slog.New(slog.DiscardHandler)
	nw, err := devnet.Start(ctx, devnet.Config{Nodes: 1, Logger: quiet})
	if err != nil {
		return err
	}
	defer nw.Stop()
	core := nw.Nodes()[0].APIURL()

	sum := sha256.Sum256([]byte("bench/gateway"))
	hash := hex.EncodeToString(sum[:])
	body := []byte(strings.Repeat("x", 64))
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if work > 0 { // busy, as a program computing its answer
			for start := time.Now(); time.Since(start) < work; {
			}
		}
		w.Write(body)
	})}
	go upSrv.Serve(upLn)
	defer upSrv.Close()
	upBase := "http://" + upLn.Addr().String()

	a, err := eth.NewAccount()
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	res, err := client.New(core).UpdateAggregate(ctx, a, crn.AnnouncementKey, map[string]crn.Announcement{
		hash: {Status: crn.StatusRunning, URL: upBase + "/vm/" + hash, Backend: "wasm", Since: now, Seen: now},
	}, client.WriteOptions{Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		return fmt.Errorf("announcing: %v %v", res, err)
	}

	label, err := crn.HostLabel(hash)
	if err != nil {
		return err
	}
	host := label + "." + zone
	cert, roots, err := selfSigned(host)
	if err != nil {
		return err
	}
	// The stand-in compute node over TLS too (production nodes are
	// behind HTTPS), with the same certificate and HTTP/1.1 as the gateway.
	upTLSLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upTLS := tls.NewListener(upTLSLn, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	upTLSSrv := &http.Server{Handler: upSrv.Handler}
	go upTLSSrv.Serve(upTLS)
	defer upTLSSrv.Close()
	certDir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(certDir)
	gw, err := gateway.NewRole(ctx, gateway.RoleConfig{CoreURL: core, Zone: zone, Listen: "127.0.0.1:0",
		TLSListen: "127.0.0.1:0", DNSServer: "127.0.0.1:1", CertDir: certDir, ACMECA: "https://127.0.0.1:1/directory",
		Certificates: []tls.Certificate{cert}, NoRedirect: true, Logger: quiet})
	if err != nil {
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(gctx) }()
	defer func() { cancel(); <-done }()
	<-gw.Ready()
	for deadline := time.Now().Add(time.Minute); len(gw.Directory().Upstreams(hash)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("the gateway never saw the announcement")
		}
	}

	plain := func(conns int) *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns}}
	}
	tlsClient := func(keepAlive bool) func(int) *http.Client {
		return func(conns int) *http.Client {
			// A cache of its own: the servers share a name but not their
			// session ticket keys.
			sessions := tls.NewLRUClientSessionCache(4 * conns)
			return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				MaxIdleConnsPerHost: conns, MaxIdleConns: conns, DisableKeepAlives: !keepAlive,
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host, ClientSessionCache: sessions}}}
		}
	}
	direct, directTLS := upBase+"/vm/"+hash+"/", "https://"+upTLS.Addr().String()+"/vm/"+hash+"/"
	gwTLS := "https://" + gw.TLSAddr().String() + "/"
	subjects := []subject{
		{"direct", "direct", true, direct, host, plain},
		{"http", "direct", true, gw.URL() + "/", host, plain},
		{"direct-https", "direct-https", true, directTLS, host, tlsClient(true)},
		{"https", "direct-https", true, gwTLS, host, tlsClient(true)},
		{"direct-https-resume", "direct-https-resume", false, directTLS, host, tlsClient(false)},
		{"https-resume", "direct-https-resume", false, gwTLS, host, tlsClient(false)},
	}
	load0, _ := os.ReadFile("/proc/loadavg")

	lat := map[string][]time.Duration{}
	for _, s := range subjects { // warm-up: connections, TLS sessions
		c := s.client(1)
		for range 200 {
			if _, err := call(c, s); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	for range rounds {
		for _, s := range subjects {
			if !s.latency {
				continue
			}
			c := s.client(1)
			for range n / rounds {
				d, err := call(c, s)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				lat[s.name] = append(lat[s.name], d)
			}
			c.CloseIdleConnections()
		}
	}
	thr := map[string]*tput{}
	for _, s := range subjects {
		// One client per subject for every round, its connections opened
		// (TLS handshakes done) by a warm-up that is not counted.
		thr[s.name] = &tput{c: s.client(conc)}
		(&tput{c: thr[s.name].c}).run(s, conc, 300*time.Millisecond)
	}
	for range rounds {
		for _, s := range subjects {
			thr[s.name].run(s, conc, dur/time.Duration(rounds))
		}
	}
	load1, _ := os.ReadFile("/proc/loadavg")

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subject\tp50\tp99\toverhead p50\toverhead p99\treq/s\tof its direct\terrors\tconnections\tresumed\t")
	p := func(name string, q float64) time.Duration { return pct(lat[name], q) }
	ratio := func(name string) float64 {
		for _, s := range subjects {
			if s.name == name {
				return thr[name].rate() / thr[s.base].rate()
			}
		}
		return 0
	}
	for _, s := range subjects {
		t := thr[s.name]
		if s.latency {
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t", s.name, p(s.name, 50), p(s.name, 99),
				p(s.name, 50)-p(s.base, 50), p(s.name, 99)-p(s.base, 99))
		} else {
			fmt.Fprintf(tw, "%s\t\t\t\t\t", s.name)
		}
		fmt.Fprintf(tw, "%.0f\t%.0f%%\t%d\t%d\t%d\t\n", t.rate(), 100*ratio(s.name), t.errors.Load(), t.dials.Load(), t.resumed.Load())
	}
	tw.Flush()
	fmt.Printf("load average before: %s after: %s", load0, load1)
	us := func(a, b string, q float64) int64 { return (p(a, q) - p(b, q)).Microseconds() }
	fmt.Printf("RESULT work_us=%d overhead_http_p50_us=%d overhead_http_p99_us=%d overhead_https_p50_us=%d overhead_https_p99_us=%d "+
		"http_ratio=%.2f https_ratio=%.2f https_resume_ratio=%.2f https_vs_plain_direct=%.2f direct_rps=%.0f conns=%d\n",
		work.Microseconds(), us("http", "direct", 50), us("http", "direct", 99), us("https", "direct-https", 50), us("https", "direct-https", 99),
		ratio("http"), ratio("https"), ratio("https-resume"), thr["https"].rate()/thr["direct"].rate(), thr["direct"].rate(), conc)
	return nil
}

// call sends one GET of s and reads its answer; it returns the time taken.
func call(c *http.Client, s subject) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return 0, err
	}
	req.Host = s.host
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", res.Status)
	}
	return time.Since(start), err
}

// tput sums the throughput measurements of one subject.
type tput struct {
	c                          *http.Client
	ok, errors, resumed, dials atomic.Int64
	elapsed                    time.Duration
}

func (t *tput) rate() float64 { return float64(t.ok.Load()) / t.elapsed.Seconds() }

// run sends requests of s from conns clients for d.
func (t *tput) run(s subject, conns int, d time.Duration) {
	c := t.c
	var wg sync.WaitGroup
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			t.dials.Add(1)
		}
	}}
	start := time.Now()
	end := start.Add(d)
	for range conns {
		wg.Go(func() {
			for time.Now().Before(end) {
				req, _ := http.NewRequest(http.MethodGet, s.url, nil)
				req.Host = s.host
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				res, err := c.Do(req)
				if err != nil {
					t.errors.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.errors.Add(1)
					continue
				}
				t.ok.Add(1)
				if res.TLS != nil && res.TLS.DidResume {
					t.resumed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.elapsed += time.Since(start)
}

// pct is the q-th percentile of ds (nearest rank).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// selfSigned returns a certificate for host and a pool trusting it.
func selfSigned(host string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
