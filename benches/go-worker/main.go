// The official Go SDK's worker for hatchet-bench (github.com/hatchet-dev/hatchet v0.104.7,
// package sdks/go).
//
// Built and started by hatchet-bench, which sets HATCHET_CLIENT_* (the engine),
// HATCHET_BENCH_SLOTS and HATCHET_BENCH_SLEEP_MS. Serves the same two standalone tasks as
// the other peers:
//
//	bench-go-noop   returns {"started_at_us": <unix time in µs when it started>}
//	bench-go-sleep  sleeps HATCHET_BENCH_SLEEP_MS, returns {}
//
// Prints READY once the SDK has registered the worker, right before it opens ListenV2.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	v0Client "github.com/hatchet-dev/hatchet/pkg/client"
	"github.com/hatchet-dev/hatchet/pkg/config/shared"
	"github.com/hatchet-dev/hatchet/pkg/logger"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
)

// registeredMsg is what the SDK's dispatcher client logs (at debug, its default level) after
// Register and right before ListenV2.
const registeredMsg = "Registered worker with id"

type started struct {
	StartedAtUs int64 `json:"started_at_us"`
}

// readyHook prints READY the first time the client logs the worker's registration. The SDK
// has no public readiness hook; its log line is the closest point to the listener opening.
type readyHook struct{ once *sync.Once }

func (h readyHook) Run(_ *zerolog.Event, _ zerolog.Level, msg string) {
	if strings.HasPrefix(msg, registeredMsg) {
		h.once.Do(announceReady)
	}
}

func announceReady() { fmt.Println("READY") }

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	slots := envInt("HATCHET_BENCH_SLOTS", 200)
	sleepFor := time.Duration(envInt("HATCHET_BENCH_SLEEP_MS", 2000)) * time.Millisecond

	// The client's default logger (HATCHET_CLIENT_LOG_LEVEL [debug], _LOG_FORMAT [json], on
	// stderr), built the way the SDK builds it, plus the readiness hook.
	level := envOr("HATCHET_CLIENT_LOG_LEVEL", "debug")
	format := envOr("HATCHET_CLIENT_LOG_FORMAT", "json")
	once := &sync.Once{}
	clientLog := logger.NewStdErr(&shared.LoggerConfigFile{Level: level, Format: format}, "client").
		Hook(readyHook{once: once})

	client, err := hatchet.NewClient(v0Client.WithLogger(&clientLog)) //nolint:staticcheck // the SDK offers no other way to set the client's logger
	if err != nil {
		fmt.Fprintf(os.Stderr, "go worker: cannot create the client: %v\n", err)
		os.Exit(1)
	}

	noop := client.NewStandaloneTask("bench-go-noop", func(_ hatchet.Context, _ map[string]any) (started, error) {
		return started{StartedAtUs: time.Now().UnixMicro()}, nil
	})
	sleep := client.NewStandaloneTask("bench-go-sleep", func(ctx hatchet.Context, _ map[string]any) (map[string]any, error) {
		select {
		case <-time.After(sleepFor):
		case <-ctx.Done():
		}
		return map[string]any{}, nil
	})

	worker, err := client.NewWorker("bench-go", hatchet.WithSlots(slots), hatchet.WithWorkflows(noop, sleep))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go worker: cannot create the worker: %v\n", err)
		os.Exit(1)
	}

	// Below debug the registration line is not logged: READY at once; the benchmark's
	// warm-up runs wait in the engine's queue until the worker listens.
	if lvl, err := zerolog.ParseLevel(level); err == nil && lvl > zerolog.DebugLevel {
		once.Do(announceReady)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := worker.StartBlocking(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "go worker: %v\n", err)
		os.Exit(1)
	}
}
