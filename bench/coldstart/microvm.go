package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// The micro VM backend (-level backend -backend microvm; not measured
// unless named: a boot under TCG takes seconds). Its rows: boot cold (a VM
// booted for each run), restore cold (each VM restored from the snapshot of
// its runtime and shape, made once before), warm (calls on one VM), the
// same program native, and the throughput.

func newMicroVM(ctx context.Context, snapshots bool) (*microvm.Backend, error) {
	agent, err := sandboxtest.Agent(ctx)
	if err != nil {
		return nil, err
	}
	return microvm.New(ctx, microvm.Config{Agent: agent, NoSnapshots: !snapshots})
}

func microVMSpec(ctx context.Context) (compute.Spec, error) {
	dir := filepath.Join(os.TempDir(), "goaleph-coldstart-microvm")
	root, code := filepath.Join(dir, "root"), filepath.Join(dir, "code")
	if err := sandboxtest.Runtime(root); err != nil {
		return compute.Spec{}, err
	}
	ent, err := sandboxtest.Code(ctx, code)
	return compute.Spec{ProgramHash: "bench", Interface: compute.Executable, Entrypoint: ent,
		Code: code, Runtime: root, MemoryMiB: 128, Timeout: 60 * time.Second}, err
}

// coldRun times Prepare+Start+Ready+Call on b, then stops the instance.
func coldRun(ctx context.Context, b compute.Backend, spec compute.Spec) (time.Duration, error) {
	t0 := time.Now()
	in, err := b.Prepare(ctx, spec)
	if err != nil {
		return 0, err
	}
	defer in.Stop(ctx)
	if err := in.Start(ctx); err != nil {
		return 0, err
	}
	if err := in.Ready(ctx); err != nil {
		return 0, err
	}
	if _, err := in.Call(ctx, request()); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// coldRuns times n cold runs on b.
func coldRuns(ctx context.Context, b compute.Backend, spec compute.Spec, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for range n {
		d, err := coldRun(ctx, b, spec)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func measureMicroVM(ctx context.Context, n, warmN, conc int, dur time.Duration) error {
	const name = "microvm"
	spec, err := microVMSpec(ctx)
	if err != nil {
		return err
	}
	boot, err := newMicroVM(ctx, false)
	if err != nil {
		return err
	}
	fmt.Printf("%s: accelerator %s\n", name, boot.Accel())
	booted, err := coldRuns(ctx, boot, spec, n)
	if err != nil {
		return err
	}
	report(name, "boot cold", booted)

	b, err := newMicroVM(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close(ctx)
	t0 := time.Now()
	first, err := coldRun(ctx, b, spec) // makes the snapshot
	if err != nil {
		return err
	}
	fmt.Printf("%s: first run, making the snapshot: %s ms (%s)\n", name, ms(first), time.Since(t0).Round(time.Millisecond))
	restored, err := coldRuns(ctx, b, spec, n)
	if err != nil {
		return err
	}
	report(name, "restore cold", restored)

	in, err := b.Prepare(ctx, spec)
	if err != nil {
		return err
	}
	defer in.Stop(ctx)
	if err := in.Start(ctx); err != nil {
		return err
	}
	if err := in.Ready(ctx); err != nil {
		return err
	}
	warm, native, err := warmRuns(ctx, in, nativeHTTP, warmN)
	if err != nil {
		return err
	}
	report(name, "warm", warm)
	report(name, "native", native)
	tp := throughput(func() error { _, err := in.Call(ctx, request()); return err }, conc, dur)
	if tp.first != nil {
		return tp.first
	}
	fmt.Printf("%s: throughput, %d callers: %.0f requests/s\n", name, conc, tp.rps)
	overhead := pct(warm, 50) - pct(native, 50)
	ratio := float64(pct(booted, 50)) / float64(pct(restored, 50))
	fmt.Printf("%s: warm overhead over native (p50): %s ms; boot/restore (p50): %.1fx\n", name, ms(overhead), ratio)
	fmt.Printf("RESULT level=backend subject=%s accel=%s boot_p50_ms=%s boot_p95_ms=%s restore_p50_ms=%s restore_p95_ms=%s "+
		"warm_p50_ms=%s warm_p95_ms=%s native_p50_ms=%s overhead_p50_ms=%s boot_restore_ratio=%.1f rps_c%d=%.0f\n",
		name, b.Accel(), ms(pct(booted, 50)), ms(pct(booted, 95)), ms(pct(restored, 50)), ms(pct(restored, 95)),
		ms(pct(warm, 50)), ms(pct(warm, 95)), ms(pct(native, 50)), ms(overhead), ratio, conc, tp.rps)
	return nil
}
