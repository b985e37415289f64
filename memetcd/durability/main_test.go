package durability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// memetcdBin is the binary every test here runs, built once by TestMain.
var memetcdBin string

func TestMain(m *testing.M) {
	if os.Getenv(floorServeEnv) != "" {
		serveFloorEcho() // TestMeasureWakeFloor's child
		return
	}
	flag.Parse()
	dir, err := os.MkdirTemp("", "memetcd-durability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	memetcdBin, err = Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startT starts memetcd on walDir with extra flags and kills it at cleanup.
func startT(t testing.TB, walDir string, args ...string) *Process {
	t.Helper()
	return startBinT(t, memetcdBin, walDir, args...)
}

// startBinT is startT with another memetcd binary (an older build, for
// TestMeasurePuts -measure.variant).
func startBinT(t testing.TB, bin, walDir string, args ...string) *Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--wal-dir=" + walDir}, args...)
	p, err := Start(ctx, bin, walDir+".log", args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func client(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
