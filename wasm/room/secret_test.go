package room

import (
	"bytes"
	"testing"
)

// TestTaskSecret: the task's creator makes its secret; a member joining
// through the creator, and one joining through that member (pairing with
// the creator after), get the same one, kept across a restart.
func TestTaskSecret(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task, err := bob.CreateTask(testCtx(t), "Secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := bob.Secret(task.ID)
	if len(secret) != 32 {
		t.Fatalf("the creator's secret: %x", secret)
	}
	other, _ := bob.CreateTask(testCtx(t), "Another", nil)
	if bytes.Equal(bob.Secret(other.ID), secret) {
		t.Fatal("two tasks share a secret")
	}
	ana.join(bob, task.ID)
	carl.join(ana, task.ID)
	eventually(t, "Carl paired with Bob", func() bool { return carl.paired(task.ID, 2) })
	for _, n := range []*node{ana, carl} {
		if !bytes.Equal(n.Secret(task.ID), secret) {
			t.Fatalf("%s's secret differs", n.name)
		}
	}
	carl.stop()
	carl.start()
	if !bytes.Equal(carl.Secret(task.ID), secret) {
		t.Fatal("the secret is lost after a restart")
	}
}
