package node

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// executables processes PROGRAM and INSTANCE messages: they are validated
// and recorded here; running them is the compute node's job.
type executables struct{}

func (executables) parts(it *item) (message.Executable, []string) {
	if p := it.content.Program; p != nil {
		refs := []string{p.Code.Ref, p.Runtime.Ref}
		if p.Data != nil && p.Data.Ref != "" {
			refs = append(refs, p.Data.Ref)
		}
		return p.Executable, appendVolumeRefs(refs, p.Volumes)
	}
	in := it.content.Instance
	return in.Executable, appendVolumeRefs([]string{in.RootFS.Parent.Ref}, in.Volumes)
}

func appendVolumeRefs(refs []string, vols []message.Volume) []string {
	for _, v := range vols {
		if v.Ref != "" {
			refs = append(refs, v.Ref)
		}
		if v.Parent != nil && v.Parent.Ref != "" {
			refs = append(refs, v.Parent.Ref)
		}
	}
	return refs
}

func (e executables) check(ctx context.Context, tx store.Tx, it *item) error {
	if err := checkPermission(ctx, tx, it.msg.Sender, it.target()); err != nil {
		return err
	}
	x, refs := e.parts(it)
	if x.Replaces != "" {
		old, err := tx.VM(x.Replaces)
		if errors.Is(err, store.ErrNotFound) {
			return missing(message.CodeVMRefNotFound, x.Replaces)
		}
		if err != nil {
			return err
		}
		if old.Replaces != "" {
			return message.Errorf(message.CodeVMUpdateUpdate, "%s already replaces %s", x.Replaces, old.Replaces)
		}
		if !old.AllowAmend {
			return message.Errorf(message.CodeVMAmendNotAllowed, "%s does not allow amends", x.Replaces)
		}
	}
	for _, ref := range refs {
		if _, err := tx.FileByMessage(ctx, ref); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.File(ctx, ref); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return missing(message.CodeVMVolumeNotFound, ref)
	}
	return nil
}

func (e executables) apply(ctx context.Context, tx store.Tx, it *item) error {
	x, refs := e.parts(it)
	return tx.InsertVM(&store.VM{ItemHash: it.msg.ItemHash, Owner: it.content.Address, Type: it.msg.Type,
		AllowAmend: x.AllowAmend, Replaces: x.Replaces, PaymentType: x.PaymentType, Volumes: refs})
}

func (executables) forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error {
	return tx.DeleteVM(target.ItemHash)
}
