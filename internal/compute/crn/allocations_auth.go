package crn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/message"
)

// Scheduler authentication (spec compute-node §5.2). The scheduler signs
// each POST /control/allocations:
//
//	Authorization: Aleph-EIP191-V1 sig=0x<65-byte signature hex>,payload=<hex of JSON>
//
// where the JSON is {"method", "path", "body_sha256", "iat"}: the request's
// method and path (no query string may be sent), the hex SHA-256 of the
// body and the signing time in integer Unix seconds, within
// SchedulerMaxAge of the node's clock. The signature is EIP-191
// personal_sign over the raw payload bytes; the recovered address must be
// in the allow-list: Config.AllocationSigners if set, else the key
// authorized_allocation_signers of the "settings" aggregate of
// Config.SettingsAddress (cached settingsTTL), else
// DefaultAllocationSigner. A payload accepted once is refused again (per
// signer) until it is too old to pass the iat check anyway.
//
// The request must state its Content-Length (411 otherwise, chunked
// bodies included), at most SchedulerMaxBody (413). Every other failure
// is 401 with a text reason. The reference's deprecated token scheme
// (X-Auth-Signature, checked against ALLOCATION_TOKEN_HASH) is not
// supported: a request carrying only that header gets 401.

// SchedulerAuthScheme is the Authorization scheme of the scheduler.
const SchedulerAuthScheme = "Aleph-EIP191-V1"

// Limits of the scheduler authentication.
const (
	// SchedulerMaxAge is how far iat may be from the node's clock
	// (ALLOCATION_SIGNATURE_MAX_AGE_SECONDS of the reference).
	SchedulerMaxAge = 300 * time.Second
	// SchedulerMaxBody bounds the body of a signed request.
	SchedulerMaxBody = 1 << 20
	// replayCap bounds the payloads remembered per signer; beyond it (once
	// the expired ones are dropped) requests get 429.
	replayCap = 10000
)

// settingsTTL is how long the signers read from the settings aggregate
// are kept; settingsErrTTL how long a failure to read them is.
var (
	settingsTTL    = 120 * time.Second
	settingsErrTTL = 10 * time.Second
)

// schedulerPayload is the signed JSON of the Authorization header.
type schedulerPayload struct {
	Method     *string `json:"method"`
	Path       *string `json:"path"`
	BodySHA256 *string `json:"body_sha256"`
	IAT        *int64  `json:"iat"`
}

// SchedulerAuthorization returns the Authorization header value of a
// scheduler request (method, path, body) signed by s at iat.
func SchedulerAuthorization(s message.Signer, method, path string, body []byte, iat time.Time) (string, error) {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	t := iat.Unix()
	payload, err := json.Marshal(schedulerPayload{Method: &method, Path: &path, BodySHA256: &h, IAT: &t})
	if err != nil {
		return "", err
	}
	sig, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return SchedulerAuthScheme + " sig=" + sig + ",payload=" + hex.EncodeToString(payload), nil
}

// parseSchedulerAuth reads an Authorization header value of the scheduler
// scheme: the 65-byte signature (v normalised to 0 or 1) and the payload.
func parseSchedulerAuth(header string) (sig, payload []byte, err error) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, SchedulerAuthScheme) {
		return nil, nil, fmt.Errorf("the Authorization scheme is not %s", SchedulerAuthScheme)
	}
	var sigHex, payloadHex string
	seen := map[string]bool{}
	for _, p := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || seen[k] {
			return nil, nil, errors.New("malformed Authorization parameters")
		}
		seen[k] = true
		switch k {
		case "sig":
			sigHex = v
		case "payload":
			payloadHex = v
		default:
			return nil, nil, fmt.Errorf("unknown Authorization parameter %q", k)
		}
	}
	if sigHex == "" || payloadHex == "" {
		return nil, nil, errors.New("the Authorization header lacks sig or payload")
	}
	sigHex = strings.TrimPrefix(strings.TrimPrefix(sigHex, "0x"), "0X")
	if sig, err = hex.DecodeString(sigHex); err != nil || len(sig) != 65 {
		return nil, nil, errors.New("sig is not 65 bytes of hex")
	}
	switch v := sig[64]; {
	case v == 0 || v == 1:
	case v == 27 || v == 28:
		sig[64] = v - 27
	default:
		return nil, nil, fmt.Errorf("sig: recovery byte v=%d is not 0, 1, 27 or 28", v)
	}
	if payload, err = hex.DecodeString(payloadHex); err != nil {
		return nil, nil, errors.New("payload is not hex")
	}
	return sig, payload, nil
}

// recoverSigner returns the address whose EIP-191 signature of payload is
// sig (65 bytes, v = 0 or 1).
func recoverSigner(payload, sig []byte) (string, error) {
	pub, err := crypto.SigToPub(eth.Hash(payload), sig)
	if err != nil {
		return "", err
	}
	return crypto.PubkeyToAddress(*pub).Hex(), nil
}

// authError is a failed authentication: its status and text reason.
type authError struct {
	status int
	reason string
}

func unauthorized(format string, args ...any) *authError {
	return &authError{status: http.StatusUnauthorized, reason: fmt.Sprintf(format, args...)}
}

// schedulerAuth checks scheduler requests: allow-list and replays.
type schedulerAuth struct {
	s *Server

	settingsMu    sync.Mutex
	settings      []string // from the settings aggregate; nil: none
	settingsUntil time.Time

	replayMu sync.Mutex
	seen     map[string]map[[32]byte]time.Time // signer → payload digest → forget after
}

func newSchedulerAuth(s *Server) *schedulerAuth {
	return &schedulerAuth{s: s, seen: map[string]map[[32]byte]time.Time{}}
}

// authenticate checks the request's scheduler signature and returns its
// body and signer.
func (a *schedulerAuth) authenticate(w http.ResponseWriter, r *http.Request) ([]byte, string, *authError) {
	header := r.Header.Get("Authorization")
	if header == "" {
		if r.Header.Get("X-Auth-Signature") != "" {
			return nil, "", unauthorized("the X-Auth-Signature token scheme is not supported: sign with %s", SchedulerAuthScheme)
		}
		return nil, "", unauthorized("missing Authorization header")
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return nil, "", unauthorized("a signed request may not have a query string")
	}
	if r.Header.Get("Content-Length") == "" || r.ContentLength < 0 {
		return nil, "", &authError{status: http.StatusLengthRequired, reason: "Content-Length required"}
	}
	if r.ContentLength > SchedulerMaxBody {
		return nil, "", &authError{status: http.StatusRequestEntityTooLarge,
			reason: fmt.Sprintf("body larger than %d bytes", SchedulerMaxBody)}
	}
	sig, payloadBytes, err := parseSchedulerAuth(header)
	if err != nil {
		return nil, "", unauthorized("%v", err)
	}
	var p schedulerPayload
	d := json.NewDecoder(bytes.NewReader(payloadBytes))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil || p.Method == nil || p.Path == nil || p.BodySHA256 == nil || p.IAT == nil {
		return nil, "", unauthorized("malformed payload: want JSON {method, path, body_sha256, iat}")
	}
	if *p.Method != r.Method || *p.Path != r.URL.EscapedPath() {
		return nil, "", unauthorized("signed for %s %s, not %s %s", *p.Method, *p.Path, r.Method, r.URL.EscapedPath())
	}
	iat := time.Unix(*p.IAT, 0)
	if d := time.Since(iat); d > SchedulerMaxAge || d < -SchedulerMaxAge {
		return nil, "", unauthorized("iat is more than %d s from the node's clock", int(SchedulerMaxAge/time.Second))
	}
	signer, err := recoverSigner(payloadBytes, sig)
	if err != nil {
		return nil, "", unauthorized("invalid signature")
	}
	if !a.allowed(r.Context(), signer) {
		return nil, "", unauthorized("signer %s is not allowed to allocate", signer)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, SchedulerMaxBody))
	if err != nil {
		return nil, "", &authError{status: http.StatusBadRequest, reason: "cannot read the body: " + err.Error()}
	}
	sum := sha256.Sum256(body)
	if !strings.EqualFold(*p.BodySHA256, hex.EncodeToString(sum[:])) {
		return nil, "", unauthorized("body_sha256 does not match the body")
	}
	if ae := a.remember(signer, payloadBytes, iat.Add(SchedulerMaxAge+time.Second)); ae != nil {
		return nil, "", ae
	}
	return body, signer, nil
}

// remember records payload as used by signer until forget, failing if it
// was used already.
func (a *schedulerAuth) remember(signer string, payload []byte, forget time.Time) *authError {
	key := strings.ToLower(signer)
	digest := sha256.Sum256(payload)
	now := time.Now()
	a.replayMu.Lock()
	defer a.replayMu.Unlock()
	seen := a.seen[key]
	if until, ok := seen[digest]; ok && now.Before(until) {
		return unauthorized("payload already used (replay)")
	}
	if len(seen) >= replayCap {
		for k, until := range seen {
			if !now.Before(until) {
				delete(seen, k)
			}
		}
		if len(seen) >= replayCap {
			return &authError{status: http.StatusTooManyRequests,
				reason: fmt.Sprintf("more than %d allocations signed by %s in %d s", replayCap, signer, int(SchedulerMaxAge/time.Second))}
		}
	}
	if seen == nil {
		seen = map[[32]byte]time.Time{}
		a.seen[key] = seen
	}
	seen[digest] = forget
	// Drop the signers whose every payload has aged out.
	for k, m := range a.seen {
		if k == key {
			continue
		}
		for p, until := range m {
			if !now.Before(until) {
				delete(m, p)
			}
		}
		if len(m) == 0 {
			delete(a.seen, k)
		}
	}
	return nil
}

// allowed reports whether addr may sign allocations.
func (a *schedulerAuth) allowed(ctx context.Context, addr string) bool {
	for _, s := range a.signers(ctx) {
		if strings.EqualFold(s, addr) {
			return true
		}
	}
	return false
}

// signers returns the allow-list: Config.AllocationSigners, else the
// settings aggregate's, else DefaultAllocationSigner.
func (a *schedulerAuth) signers(ctx context.Context) []string {
	if len(a.s.cfg.AllocationSigners) > 0 {
		return a.s.cfg.AllocationSigners
	}
	if s := a.settingsSigners(ctx); len(s) > 0 {
		return s
	}
	return []string{DefaultAllocationSigner}
}

// settingsSigners returns the valid addresses of the key
// authorized_allocation_signers of the settings aggregate, cached.
func (a *schedulerAuth) settingsSigners(ctx context.Context) []string {
	a.settingsMu.Lock()
	defer a.settingsMu.Unlock()
	if time.Now().Before(a.settingsUntil) {
		return a.settings
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	signers, err := a.fetchSettings(ctx)
	if err != nil {
		a.s.log.Warn("reading the allocation signers of the settings aggregate", "address", a.s.cfg.SettingsAddress, "err", err)
		a.settings, a.settingsUntil = nil, time.Now().Add(settingsErrTTL)
		return nil
	}
	a.settings, a.settingsUntil = signers, time.Now().Add(settingsTTL)
	return signers
}

func (a *schedulerAuth) fetchSettings(ctx context.Context) ([]string, error) {
	raw, err := a.s.cfg.Client.Aggregate(ctx, a.s.cfg.SettingsAddress, "settings")
	if err != nil {
		return nil, err
	}
	var v struct {
		Signers []json.RawMessage `json:"authorized_allocation_signers"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("settings aggregate: %w", err)
	}
	var out []string
	for _, r := range v.Signers {
		var s string
		if json.Unmarshal(r, &s) == nil && IsETHAddress(s) {
			out = append(out, s)
		}
	}
	return out, nil
}
