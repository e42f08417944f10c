package crn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/message"
)

// Instances (INSTANCE messages) run on the micro VM backend
// (Config.Instances) as long-running VMs reached by SSH: started by the
// owner's POST /control/allocation/notify, stopped, rebooted and erased by
// the owner's signed /control/machine/{ref}/… operations, their console
// read by …/logs and …/stream_logs. Their disks live under
// <CacheDir>/instances/<hash>. See docs/design/0022-instances.md.

// vmInstance is one instance on this node.
type vmInstance struct {
	hash    string
	owner   string
	dir     string // its disks
	m       *microvm.Machine
	defined time.Time
	started time.Time
}

// instances are the node's instances.
type instances struct {
	mu   sync.Mutex
	byID map[string]*vmInstance
	busy map[string]bool // being started, stopped or erased
}

// instanceContent is what the node reads of an INSTANCE content.
type instanceContent struct {
	Address        string   `json:"address"`
	AuthorizedKeys []string `json:"authorized_keys"`
	Resources      struct {
		VCPUs  int `json:"vcpus"`
		Memory int `json:"memory"`
	} `json:"resources"`
	RootFS struct {
		Parent struct {
			Ref       string `json:"ref"`
			UseLatest bool   `json:"use_latest"`
		} `json:"parent"`
		SizeMiB int `json:"size_mib"`
	} `json:"rootfs"`
	Volumes []struct {
		Mount       string `json:"mount"`
		Name        string `json:"name"`
		Persistence string `json:"persistence"`
		SizeMiB     int    `json:"size_mib"`
		Ref         string `json:"ref"`
		Ephemeral   bool   `json:"ephemeral"`
	} `json:"volumes"`
}

func (s *Server) instanceRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /control/allocation/notify", s.notifyInstance)
	m.HandleFunc("POST /control/machine/{ref}/erase", s.ownerErase)
}

// lookupInstance returns the instance hash, or nil.
func (s *Server) lookupInstance(hash string) *vmInstance {
	s.inst.mu.Lock()
	defer s.inst.mu.Unlock()
	return s.inst.byID[hash]
}

// notifyInstance starts the INSTANCE of the body {"instance": hash}.
// Payment is not checked yet: the node starts what it is told, within its
// capacity.
func (s *Server) notifyInstance(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Instance string `json:"instance"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil || !isItemHash(body.Instance) {
		writeError(w, http.StatusBadRequest, `The body must be {"instance": <item hash>}`)
		return
	}
	if s.cfg.Instances == nil {
		writeError(w, http.StatusNotImplemented, "This node runs no instances (no micro VM backend)")
		return
	}
	hash := body.Instance
	reply := func(status int, errText string) {
		out := map[string]any{"success": errText == "", "successful": []string{}, "failing": []string{}, "errors": map[string]string{}}
		if errText == "" {
			out["successful"] = []string{hash}
		} else {
			out["failing"], out["errors"] = []string{hash}, map[string]string{hash: errText}
		}
		writeJSON(w, status, out)
	}
	if err := s.startInstance(r.Context(), hash); err != nil {
		status, msg := statusOf(err)
		reply(status, msg)
		return
	}
	reply(http.StatusOK, "")
}

// startInstance starts hash, already running or not.
func (s *Server) startInstance(ctx context.Context, hash string) error {
	in := &s.inst
	in.mu.Lock()
	if in.byID[hash] != nil && in.byID[hash].m.Running() {
		in.mu.Unlock()
		return nil
	}
	if in.busy[hash] {
		in.mu.Unlock()
		return errorf(http.StatusConflict, "Instance %s is being started or stopped", hash)
	}
	in.busy[hash] = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.busy, hash)
		in.mu.Unlock()
	}()
	vi := s.lookupInstance(hash)
	fresh := false // no disks yet: a failed first start leaves none
	if vi == nil {
		var err error
		if vi, err = s.prepareInstance(ctx, hash); err != nil {
			return err
		}
		_, err = os.Stat(vi.dir)
		fresh = errors.Is(err, os.ErrNotExist)
	}
	if err := vi.m.Start(ctx); err != nil {
		if fresh {
			if eerr := vi.m.Erase(context.WithoutCancel(ctx)); eerr != nil {
				s.log.Warn("removing a failed instance's disks", "hash", hash, "err", eerr)
			}
		}
		if errors.Is(err, compute.ErrInvalidSpec) {
			return wrap(http.StatusUnprocessableEntity, err, "Instance %s cannot run as published", hash)
		}
		return wrap(http.StatusInternalServerError, err, "Instance %s did not start", hash)
	}
	vi.started = time.Now()
	in.mu.Lock()
	in.byID[hash] = vi
	in.mu.Unlock()
	s.log.Info("instance started", "hash", hash, "ssh_port", vi.m.SSHPort())
	return nil
}

// prepareInstance reads the INSTANCE message and fetches its root image.
func (s *Server) prepareInstance(ctx context.Context, hash string) (*vmInstance, error) {
	res, err := s.cfg.Client.Message(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Item hash %s not found", hash)
	}
	if err != nil {
		return nil, wrap(http.StatusBadGateway, err, "Cannot read message %s from the core node", hash)
	}
	if res.Status != client.StatusProcessed || res.Message == nil {
		return nil, errorf(http.StatusNotFound, "Message %s is %s on the core node", hash, res.Status)
	}
	if res.Message.Type != message.TypeInstance {
		return nil, errorf(http.StatusBadRequest, "Message %s is a %s, not an INSTANCE", hash, res.Message.Type)
	}
	var c instanceContent
	if err := json.Unmarshal(res.Message.Content, &c); err != nil {
		return nil, wrap(http.StatusUnprocessableEntity, err, "INSTANCE %s: content", hash)
	}
	if c.Address == "" {
		c.Address = res.Message.Sender
	}
	mem := int64(c.Resources.Memory)
	if mem <= 0 || mem > s.cfg.MemoryMiB || c.Resources.VCPUs > s.cfg.VCPUs {
		return nil, errorf(http.StatusServiceUnavailable, "INSTANCE %s asks for more than this node has (%d MiB, %d vCPUs)", hash, mem, c.Resources.VCPUs)
	}
	_, image, err := s.fetchRef(ctx, "rootfs", c.RootFS.Parent.Ref, c.RootFS.Parent.UseLatest, c.Address)
	if err != nil {
		return nil, err
	}
	// The image is a squashfs (runtimes/debian-12-instance), unpacked
	// once; each instance's root disk is made from the tree.
	if !isSquashfs(image) {
		return nil, errorf(http.StatusUnprocessableEntity, "INSTANCE %s: rootfs %s is not a squashfs image", hash, c.RootFS.Parent.Ref)
	}
	tree, err := s.cache.unsquash(ctx, filepath.Base(image), image)
	if err != nil {
		return nil, err
	}
	spec := microvm.MachineSpec{
		Hash: hash, RootFS: tree, RootMiB: c.RootFS.SizeMiB, MemoryMiB: c.Resources.Memory, VCPUs: c.Resources.VCPUs,
		AuthorizedKeys: c.AuthorizedKeys, Dir: filepath.Join(s.cfg.CacheDir, "instances", hash),
		ForwardAddr: s.cfg.InstanceForwardAddr,
	}
	for i, v := range c.Volumes {
		if v.Ref != "" || v.Ephemeral || v.Persistence != "host" {
			return nil, errorf(http.StatusUnprocessableEntity, "INSTANCE %s: volume %d: only persistent volumes on the host are supported for instances", hash, i)
		}
		spec.Volumes = append(spec.Volumes, microvm.MachineVolume{Name: v.Name, Mount: v.Mount, SizeMiB: v.SizeMiB})
	}
	m, err := s.cfg.Instances.NewMachine(spec)
	if err != nil {
		return nil, wrap(http.StatusUnprocessableEntity, err, "INSTANCE %s cannot run here", hash)
	}
	return &vmInstance{hash: hash, owner: c.Address, dir: spec.Dir, m: m, defined: time.Now()}, nil
}

// instanceOwner authenticates the owner operation on the instance named
// by the path; nil, true if the path names no instance (a program's
// operation, then).
func (s *Server) instanceOwner(w http.ResponseWriter, r *http.Request) (*vmInstance, bool) {
	vi := s.lookupInstance(r.PathValue("ref"))
	if vi == nil {
		return nil, true
	}
	addr, err := s.authenticateOwner(r.Header.Get(HeaderSignedPubKey), r.Header.Get(HeaderSignedOperation), r.Method, r.URL.Path)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "Authentication failed: "+err.Error())
		return nil, false
	}
	if !sameAddress(addr, vi.owner) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is not the owner of %s", addr, vi.hash))
		return nil, false
	}
	return vi, true
}

// instanceOp runs op on an instance under its busy mark.
func (s *Server) instanceOp(w http.ResponseWriter, vi *vmInstance, done string, op func(context.Context) error) {
	in := &s.inst
	in.mu.Lock()
	if in.busy[vi.hash] {
		in.mu.Unlock()
		writeError(w, http.StatusConflict, "Instance "+vi.hash+" is being started or stopped")
		return
	}
	in.busy[vi.hash] = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.busy, vi.hash)
		in.mu.Unlock()
	}()
	if err := op(context.Background()); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s VM %s\n", done, vi.hash)
}

func (s *Server) ownerErase(w http.ResponseWriter, r *http.Request) {
	vi, ok := s.instanceOwner(w, r)
	if !ok {
		return
	}
	if vi == nil {
		writeError(w, http.StatusNotFound, "No instance "+r.PathValue("ref")+" on this node")
		return
	}
	s.log.Info("instance erased by its owner", "hash", vi.hash)
	s.instanceOp(w, vi, "Erased", func(ctx context.Context) error {
		err := vi.m.Erase(ctx)
		s.inst.mu.Lock()
		delete(s.inst.byID, vi.hash)
		s.inst.mu.Unlock()
		return err
	})
}

// instanceLogs is the instance's console in the form of the /logs route.
func instanceLogs(vi *vmInstance) []logEntry {
	lines := vi.m.Logs()
	out := make([]logEntry, len(lines))
	for i, l := range lines {
		out[i] = logEntry{Identifier: "vm-" + vi.hash + "-" + l.Stream, Message: l.Text, File: l.Stream,
			Timestamp: strconv.FormatInt(l.Time.UnixMicro(), 10)}
	}
	return out
}

// instanceExecutions adds the instances to /v2/about/executions/list, with
// their SSH port forward in mapped_ports as the reference reports it.
func (s *Server) instanceExecutions(out map[string]any) {
	s.inst.mu.Lock()
	defer s.inst.mu.Unlock()
	for h, vi := range s.inst.byID {
		running := vi.m.Running()
		net := map[string]any{}
		if p := vi.m.SSHPort(); p > 0 {
			net["mapped_ports"] = map[string]any{"22": map[string]any{"host": p, "tcp": true, "udp": false}}
			net["ipv4_ip"] = "10.0.2.15"
		}
		out[h] = map[string]any{
			"networking": net,
			"status": map[string]any{
				"defined_at": vi.defined.UTC(), "started_at": vi.started.UTC(),
			},
			"running": running, "vm_type": "instance", "backend": microvm.Name,
			"awaiting_confidential_init": false,
		}
	}
}

// closeInstances stops every instance, keeping their disks.
func (s *Server) closeInstances() {
	s.inst.mu.Lock()
	var all []*vmInstance
	for _, vi := range s.inst.byID {
		all = append(all, vi)
	}
	s.inst.mu.Unlock()
	for _, vi := range all {
		if err := vi.m.Stop(context.Background()); err != nil {
			s.log.Warn("stopping an instance", "hash", vi.hash, "err", err)
		}
	}
}
