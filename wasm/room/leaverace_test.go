package room

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestJoinWhileLeaving: Ana leaves as Dave joins through Carl; whichever
// way the two cross, Dave joins and ends with Ana's messages (soak, "A
// leave and a join crossing": the pairing book Ana began as she left
// replaced her history at Dave, then went with her copy; or Carl, taking
// her leave, closed the port of Dave's join under way).
func TestJoinWhileLeaving(t *testing.T) {
	for _, ms := range []int{0, 3, 6, 9, 12, 15, 18, 21, 50, 100, 200} {
		t.Run(fmt.Sprint(ms), func(t *testing.T) {
			url := startRelay(t)
			bob, an, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
			task, err := bob.CreateTask(testCtx(t), "Roof", nil)
			if err != nil {
				t.Fatal(err)
			}
			an.join(bob, task.ID)
			carl.join(bob, task.ID)
			eventually(t, "three members paired", func() bool { return an.paired(task.ID, 2) && carl.paired(task.ID, 2) && bob.paired(task.ID, 2) })
			for _, text := range []string{"tiles ordered", "scaffold up"} {
				an.send(task.ID, text, nil)
			}
			converged(t, task.ID, 7, bob, an, carl)
			dave := newNode(t, url, "dave", 4)
			done := make(chan error, 1)
			go func() {
				time.Sleep(time.Duration(ms) * time.Millisecond) // the crossing, not a synchronisation
				_, err := an.Leave(testCtx(t), task.ID)
				done <- err
			}()
			dave.join(carl, task.ID)
			if err := <-done; err != nil {
				t.Logf("leave: %v", err)
			}
			eventually(t, "Dave has Ana's messages", func() bool {
				_, texts := dave.chatsOf(task.ID, an.ID())
				return slices.Equal(texts, []string{"tiles ordered", "scaffold up"})
			}, state(task.ID, dave))
			eventually(t, "Dave shows Ana left", func() bool {
				mi, ok := dave.member(task.ID, an.ID())
				return ok && mi.Left
			}, state(task.ID, dave))
		})
	}
}
