package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goaleph/goaleph/message"
)

// Defaults of InstanceParams' zero fields, as the official SDK's.
const (
	DefaultInstanceVCPUs   = 1
	DefaultInstanceMemory  = 2048 // MiB
	DefaultInstanceSeconds = 30
)

// InstanceParams describes an INSTANCE message: a long-running VM booted
// from a root image (a STORE) and reached by SSH.
type InstanceParams struct {
	// RootFS is the item hash of the root image's STORE message
	// (rootfs.parent.ref, with use_latest as the SDK writes it).
	RootFS string
	// RootFSSizeMiB is the size of the instance's root disk in MiB
	// (rootfs.size_mib). Required.
	RootFSSizeMiB int64
	// Persistence of the root disk: "host" (the default) or "store".
	Persistence string
	// VCPUs, MemoryMiB and Seconds are the resources; zero means
	// DefaultInstanceVCPUs, DefaultInstanceMemory and
	// DefaultInstanceSeconds.
	VCPUs     int
	MemoryMiB int64
	Seconds   int64
	// AuthorizedKeys are the SSH public keys (lines of authorized_keys)
	// allowed to log in as root.
	AuthorizedKeys []string
	// Internet, AlephAPI and Hypervisor are the environment; Hypervisor
	// empty means "qemu", as the SDK's default.
	Internet, AlephAPI bool
	Hypervisor         string
	// Variables are environment variables (not applied to instances by the
	// reference; kept for compatibility).
	Variables map[string]string
	// Volumes are more disks (persistent volumes for this node's
	// instances).
	Volumes []message.Volume
	// Name is metadata.name, omitted when empty.
	Name string
	// Payment is the payment: nil means hold (the field is omitted).
	Payment *Payment
	// AllowAmend lets later messages amend the instance.
	AllowAmend bool
	// Channel of the message; empty for none.
	Channel string
	// Sync asks the node to process the message before answering.
	Sync bool
	// Time of the message; zero means now.
	Time time.Time
}

// Payment is the payment of an executable message.
type Payment struct {
	// Type is "hold", "superfluid" or "credit".
	Type string `json:"type"`
	// Chain is the chain of a superfluid stream (omitted when empty).
	Chain string `json:"chain,omitempty"`
	// Receiver is the stream's receiver (omitted when empty).
	Receiver string `json:"receiver,omitempty"`
}

// CreateInstance publishes an INSTANCE message signed by s with the
// content the official SDK writes (its create_instance). The message only
// describes the VM: a compute node starts it when told so (CRN.Notify) or
// when a scheduler allocates it.
func (c *Client) CreateInstance(ctx context.Context, s message.Signer, p InstanceParams) (*Result, error) {
	b, err := InstanceContent(s.Address(), p)
	if err != nil {
		return nil, err
	}
	return c.publish(ctx, s, message.TypeInstance, b, p.Channel, p.Sync, msgTime(p.Time))
}

// InstanceContent returns the content of the INSTANCE message p describes
// for address (CreateInstance sends it), for example to estimate its price
// first. It checks what the node would refuse.
func InstanceContent(address string, p InstanceParams) ([]byte, error) {
	if !message.ValidHash(p.RootFS) {
		return nil, fmt.Errorf("aleph: instance root file system %q is not an item hash", p.RootFS)
	}
	if p.RootFSSizeMiB < 1 {
		return nil, errors.New("aleph: instance root file system size must be at least 1 MiB")
	}
	if p.Persistence == "" {
		p.Persistence = "host"
	}
	if p.Persistence != "host" && p.Persistence != "store" {
		return nil, fmt.Errorf("aleph: instance root persistence must be host or store, not %q", p.Persistence)
	}
	if p.VCPUs == 0 {
		p.VCPUs = DefaultInstanceVCPUs
	}
	if p.MemoryMiB == 0 {
		p.MemoryMiB = DefaultInstanceMemory
	}
	if p.Seconds == 0 {
		p.Seconds = DefaultInstanceSeconds
	}
	if p.VCPUs < 0 || p.MemoryMiB < 0 || p.Seconds < 0 {
		return nil, errors.New("aleph: instance resources must be positive")
	}
	if p.Hypervisor == "" {
		p.Hypervisor = "qemu"
	}
	t := msgTime(p.Time)
	type environment struct {
		Internet   bool   `json:"internet"`
		AlephAPI   bool   `json:"aleph_api"`
		Hypervisor string `json:"hypervisor"`
	}
	type parent struct {
		Ref       string `json:"ref"`
		UseLatest bool   `json:"use_latest"`
	}
	type rootfs struct {
		Parent      parent `json:"parent"`
		Persistence string `json:"persistence"`
		SizeMiB     int64  `json:"size_mib"`
	}
	var o object
	o.add("address", address)
	o.raw("time", timeJSON(t))
	o.add("allow_amend", p.AllowAmend)
	if p.Name != "" {
		o.add("metadata", map[string]string{"name": p.Name})
	}
	if len(p.AuthorizedKeys) > 0 {
		o.add("authorized_keys", p.AuthorizedKeys)
	}
	if len(p.Variables) > 0 {
		o.add("variables", p.Variables)
	}
	o.add("environment", environment{p.Internet, p.AlephAPI, p.Hypervisor})
	o.add("resources", message.Resources{VCPUs: p.VCPUs, Memory: p.MemoryMiB, Seconds: p.Seconds})
	if p.Payment != nil {
		o.add("payment", p.Payment)
	}
	o.add("volumes", nonNil(p.Volumes))
	o.add("rootfs", rootfs{Parent: parent{Ref: p.RootFS, UseLatest: true}, Persistence: p.Persistence, SizeMiB: p.RootFSSizeMiB})
	return o.bytes(), nil
}
