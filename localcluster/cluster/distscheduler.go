package cluster

import (
	"context"
	"fmt"
)

func (c *Cluster) startDistScheduler(ctx context.Context) error {
	return fmt.Errorf("distscheduler: not wired yet")
}
