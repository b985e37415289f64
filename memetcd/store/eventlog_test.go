package store

import (
	"fmt"
	"sync"
	"testing"
)

// TestEventLogFollowers: readers following the log while writers race see
// every revision once, in order, with no gaps.
func TestEventLogFollowers(t *testing.T) {
	s := newTestStore(t, Config{})
	const writers, perWriter = 4, 300
	total := int64(writers * perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, _, err := s.Put(&PutRequest{Key: fmt.Appendf(nil, "/k/%d/%d", w, i%7), Value: []byte("v")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			next := int64(2)
			for next <= total+1 {
				changed := s.Changed()
				b, err := s.ReadEvents(next, 50)
				if err != nil {
					errs <- err
					return
				}
				for _, ev := range b.Events {
					if ev.KV.ModRevision != next {
						errs <- fmt.Errorf("event at %d, want %d", ev.KV.ModRevision, next)
						return
					}
					next++
				}
				if len(b.Events) == 0 {
					<-changed
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
