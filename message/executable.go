package message

import (
	"bytes"
	"encoding/json"
)

// Volume is one volume of a PROGRAM or INSTANCE. Exactly one form applies:
// immutable (Ref set), ephemeral, or persistent.
type Volume struct {
	Comment     string `json:"comment,omitempty"`
	Mount       string `json:"mount,omitempty"`
	Ref         string `json:"ref,omitempty"`
	UseLatest   bool   `json:"use_latest,omitempty"`
	Ephemeral   bool   `json:"ephemeral,omitempty"`
	SizeMiB     int64  `json:"size_mib,omitempty"`
	Persistence string `json:"persistence,omitempty"`
	Name        string `json:"name,omitempty"`
	Parent      *Ref   `json:"parent,omitempty"`
}

// Ref points to a file by the hash of its STORE message (or of the file).
type Ref struct {
	Ref       string `json:"ref"`
	UseLatest bool   `json:"use_latest"`
	Comment   string `json:"comment,omitempty"`
}

// Resources are the machine resources asked for by an executable.
type Resources struct {
	VCPUs   int   `json:"vcpus"`
	Memory  int64 `json:"memory"`
	Seconds int64 `json:"seconds"`
}

// Executable holds what PROGRAM and INSTANCE contents share.
type Executable struct {
	AllowAmend  bool      `json:"allow_amend"`
	Replaces    string    `json:"replaces,omitempty"`
	Resources   Resources `json:"resources"`
	Volumes     []Volume  `json:"volumes,omitempty"`
	PaymentType string    `json:"-"`
}

// CodeContent is the code of a PROGRAM.
type CodeContent struct {
	Encoding   string `json:"encoding"`
	Entrypoint string `json:"entrypoint"`
	Ref        string `json:"ref"`
	Interface  string `json:"interface,omitempty"`
	UseLatest  bool   `json:"use_latest"`
}

// ProgramContent is the content of a PROGRAM message (a function run on demand).
type ProgramContent struct {
	Executable
	Type    string          `json:"type"`
	Code    CodeContent     `json:"code"`
	Runtime Ref             `json:"runtime"`
	Data    *Volume         `json:"data,omitempty"`
	On      json.RawMessage `json:"on"`
}

// RootFS is the root filesystem of an INSTANCE.
type RootFS struct {
	Parent      Ref    `json:"parent"`
	Persistence string `json:"persistence"`
	SizeMiB     int64  `json:"size_mib"`
}

// InstanceContent is the content of an INSTANCE message (a long-running VM).
type InstanceContent struct {
	Executable
	RootFS RootFS `json:"rootfs"`
}

// Limits of executable content (aleph-message).
const (
	maxMapEntries   = 256
	maxVariableKey  = 128
	maxVariableVal  = 4096
	maxAuthKeyChars = 8192
	maxVCPUs        = 256
	maxMemoryMiB    = 1048576
	maxSeconds      = 315360000
	maxEphemeralMiB = 1000
	maxPersistMiB   = 1953125
)

var executableKeys = []string{"allow_amend", "metadata", "authorized_keys", "variables", "environment",
	"resources", "payment", "requirements", "volumes", "replaces"}

func parseExecutable(obj map[string]json.RawMessage, what string, extra ...string) (Executable, error) {
	var x Executable
	if err := allowOnly(obj, what, append(executableKeys, extra...)...); err != nil {
		return x, err
	}
	r, ok := obj["allow_amend"]
	if !ok || json.Unmarshal(r, &x.AllowAmend) != nil {
		return x, Errorf(CodeInvalidFormat, "%s content: allow_amend must be a boolean", what)
	}
	if err := str(obj, "replaces", &x.Replaces, false); err != nil {
		return x, err
	}
	if x.Replaces != "" && !ValidHash(x.Replaces) {
		return x, Errorf(CodeInvalidFormat, "%s content: replaces is not an item hash", what)
	}
	if r, ok := obj["metadata"]; ok && !isNull(r) {
		var m map[string]json.RawMessage
		if json.Unmarshal(r, &m) != nil || len(m) > maxMapEntries {
			return x, Errorf(CodeInvalidFormat, "%s content: metadata must be an object of at most %d entries", what, maxMapEntries)
		}
	}
	if r, ok := obj["variables"]; ok && !isNull(r) {
		var m map[string]string
		if json.Unmarshal(r, &m) != nil || len(m) > maxMapEntries {
			return x, Errorf(CodeInvalidFormat, "%s content: variables must map at most %d strings to strings", what, maxMapEntries)
		}
		for k, v := range m {
			if len(k) > maxVariableKey || len(v) > maxVariableVal {
				return x, Errorf(CodeInvalidFormat, "%s content: variable %q too long", what, truncate(k, 40))
			}
		}
	}
	if r, ok := obj["authorized_keys"]; ok && !isNull(r) {
		var keys []string
		if json.Unmarshal(r, &keys) != nil || len(keys) > maxMapEntries {
			return x, Errorf(CodeInvalidFormat, "%s content: authorized_keys must be at most %d strings", what, maxMapEntries)
		}
		for _, k := range keys {
			if len(k) > maxAuthKeyChars {
				return x, Errorf(CodeInvalidFormat, "%s content: an authorized key is longer than %d characters", what, maxAuthKeyChars)
			}
		}
	}
	if r, ok := obj["resources"]; ok && !isNull(r) {
		if err := strictDecode(r, &struct {
			*Resources
			PublishedPorts json.RawMessage `json:"published_ports"`
		}{Resources: &x.Resources}); err != nil {
			return x, Errorf(CodeInvalidFormat, "%s content: resources: %v", what, err)
		}
	} else {
		return x, Errorf(CodeInvalidFormat, "%s content: resources are required", what)
	}
	rs := x.Resources
	if rs.VCPUs < 1 || rs.VCPUs > maxVCPUs || rs.Memory < 1 || rs.Memory > maxMemoryMiB || rs.Seconds < 1 || rs.Seconds > maxSeconds {
		return x, Errorf(CodeInvalidFormat, "%s content: resources out of range (vcpus 1–%d, memory 1–%d MiB, seconds 1–%d)", what, maxVCPUs, maxMemoryMiB, maxSeconds)
	}
	if r, ok := obj["volumes"]; ok && !isNull(r) {
		if err := json.Unmarshal(r, &x.Volumes); err != nil {
			return x, Errorf(CodeInvalidFormat, "%s content: volumes: %v", what, err)
		}
		for i, v := range x.Volumes {
			if err := v.validate(); err != nil {
				return x, Errorf(CodeInvalidFormat, "%s content: volume %d: %v", what, i, err)
			}
		}
	}
	pt, err := parsePayment(obj, "hold", "superfluid", "credit")
	if err != nil {
		return x, err
	}
	x.PaymentType = pt
	return x, nil
}

func (v Volume) validate() error {
	switch {
	case v.Ref != "":
		if !ValidHash(v.Ref) {
			return Errorf(CodeInvalidFormat, "ref is not an item hash")
		}
	case v.Ephemeral:
		if v.SizeMiB < 1 || v.SizeMiB > maxEphemeralMiB {
			return Errorf(CodeInvalidFormat, "ephemeral size_mib must be 1–%d", maxEphemeralMiB)
		}
	case v.Persistence != "":
		if v.Persistence != "host" && v.Persistence != "store" {
			return Errorf(CodeInvalidFormat, "persistence must be host or store")
		}
		if v.SizeMiB < 1 || v.SizeMiB > maxPersistMiB {
			return Errorf(CodeInvalidFormat, "persistent size_mib must be 1–%d", maxPersistMiB)
		}
	default:
		return Errorf(CodeInvalidFormat, "volume must be immutable (ref), ephemeral or persistent")
	}
	return nil
}

func strictDecode(r json.RawMessage, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

func parseProgram(obj map[string]json.RawMessage) (*ProgramContent, error) {
	x, err := parseExecutable(obj, "PROGRAM", "type", "code", "runtime", "data", "export", "on")
	if err != nil {
		return nil, err
	}
	p := &ProgramContent{Executable: x}
	if err := str(obj, "type", &p.Type, true); err != nil {
		return nil, err
	}
	if p.Type != "vm-function" {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: type must be vm-function")
	}
	r, ok := obj["code"]
	if !ok || json.Unmarshal(r, &p.Code) != nil {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: code is required")
	}
	switch p.Code.Encoding {
	case "plain", "zip", "squashfs":
	default:
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: code.encoding must be plain, zip or squashfs")
	}
	if p.Code.Entrypoint == "" || !ValidHash(p.Code.Ref) {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: code needs an entrypoint and a ref")
	}
	r, ok = obj["runtime"]
	if !ok || json.Unmarshal(r, &p.Runtime) != nil || !ValidHash(p.Runtime.Ref) {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: runtime needs a ref")
	}
	r, ok = obj["on"]
	if !ok || isNull(r) {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: on is required")
	}
	var on struct {
		HTTP bool `json:"http"`
	}
	if json.Unmarshal(r, &on) != nil {
		return nil, Errorf(CodeInvalidFormat, "PROGRAM content: on must be an object")
	}
	p.On = r
	if r, ok := obj["data"]; ok && !isNull(r) {
		p.Data = &Volume{}
		if json.Unmarshal(r, p.Data) != nil {
			return nil, Errorf(CodeInvalidFormat, "PROGRAM content: data must be an object")
		}
	}
	return p, nil
}

func parseInstance(obj map[string]json.RawMessage) (*InstanceContent, error) {
	x, err := parseExecutable(obj, "INSTANCE", "rootfs")
	if err != nil {
		return nil, err
	}
	in := &InstanceContent{Executable: x}
	r, ok := obj["rootfs"]
	if !ok || json.Unmarshal(r, &in.RootFS) != nil {
		return nil, Errorf(CodeInvalidFormat, "INSTANCE content: rootfs is required")
	}
	if !ValidHash(in.RootFS.Parent.Ref) {
		return nil, Errorf(CodeInvalidFormat, "INSTANCE content: rootfs.parent.ref is not an item hash")
	}
	if in.RootFS.SizeMiB < 1 || in.RootFS.SizeMiB > maxPersistMiB {
		return nil, Errorf(CodeInvalidFormat, "INSTANCE content: rootfs.size_mib must be 1–%d", maxPersistMiB)
	}
	return in, nil
}
