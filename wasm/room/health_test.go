package room

import (
	"slices"
	"testing"
)

func TestHealthOf(t *testing.T) {
	cases := []struct {
		name      string
		mi        MemberInfo
		sent      uint64
		removed   bool
		mirrors   bool
		state     string
		via       string
		why       []string
		oursHave  uint64
		theirsLag Lag
	}{
		{name: "synced", mi: MemberInfo{Paired: true, Online: true, Transport: "webrtc", Have: 5, Length: 5, Received: 3, Read: 3}, sent: 3,
			state: HealthSynced, via: "webrtc", oursHave: 3, theirsLag: Lag{5, 5}},
		{name: "theirs arriving", mi: MemberInfo{Paired: true, Online: true, Transport: "relay", Have: 2, Length: 5, Received: 3}, sent: 3,
			state: HealthBehind, via: "relay", why: []string{WhyTheirsBehind}, oursHave: 3, theirsLag: Lag{2, 5}},
		{name: "ours not there", mi: MemberInfo{Paired: true, Online: true, Transport: "relay", Have: 5, Length: 5, Received: 1}, sent: 3,
			state: HealthBehind, via: "relay", why: []string{WhyOursBehind}, oursHave: 1, theirsLag: Lag{5, 5}},
		{name: "offline, ours on a mirror", mi: MemberInfo{Paired: true, Have: 5, Length: 5, Received: 1, Mirrored: 3}, sent: 3, mirrors: true,
			state: HealthOffline, via: "mirror", why: []string{WhyOffline, WhyOursBehind}, oursHave: 1, theirsLag: Lag{5, 5}},
		{name: "offline, no mirror", mi: MemberInfo{Paired: true, Have: 5, Length: 5, Received: 3}, sent: 3,
			state: HealthOffline, why: []string{WhyOffline}, oursHave: 3, theirsLag: Lag{5, 5}},
		{name: "pairing", mi: MemberInfo{Online: true, Transport: "relay"}, sent: 3,
			state: HealthPairing, via: "relay", why: []string{WhyNotPaired}, theirsLag: Lag{}},
		{name: "fork", mi: MemberInfo{Paired: true, Online: true, Transport: "relay", Have: 5, Length: 5, Received: 3, Equivocations: []*Equivocation{{}}}, sent: 3,
			state: HealthRefused, via: "relay", why: []string{WhyFork}, oursHave: 3, theirsLag: Lag{5, 5}},
		{name: "removed", mi: MemberInfo{Removed: true, Have: 5, Length: 5}, sent: 3,
			state: HealthRemoved, why: []string{WhyRemoved, WhyNotPaired, WhyOffline}, theirsLag: Lag{5, 5}},
		{name: "you were removed", mi: MemberInfo{Paired: true, Online: true, Transport: "relay", Have: 5, Length: 5, Received: 3}, sent: 3, removed: true,
			state: HealthRemoved, via: "relay", why: []string{WhyYouRemoved}, oursHave: 3, theirsLag: Lag{5, 5}},
		{name: "receipt beyond what was sent", mi: MemberInfo{Paired: true, Online: true, Transport: "relay", Have: 1, Length: 1, Received: 9, Read: 9}, sent: 3,
			state: HealthSynced, via: "relay", oursHave: 3, theirsLag: Lag{1, 1}},
	}
	for _, c := range cases {
		h := healthOf(&c.mi, c.sent, c.removed, c.mirrors)
		if h.State != c.state || h.Via != c.via || !slices.Equal(h.Why, c.why) || h.Ours.Have != c.oursHave || h.Ours.Length != c.sent || h.Theirs != c.theirsLag {
			t.Errorf("%s: got %+v", c.name, *h)
		}
	}
}

// TestHealthOfMembers: a member's health says synced, and since when it
// is online; once it leaves, offline since then.
func TestHealthOfMembers(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Health", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "hello ana", nil)
	anaID := ana.ID()
	health := func() (MemberInfo, *Health) {
		mi, _ := bob.member(task.ID, anaID)
		if mi.Health == nil {
			return mi, &Health{}
		}
		return mi, mi.Health
	}
	eventually(t, "Ana synced", func() bool {
		mi, h := health()
		return h.State == HealthSynced && h.Via != "" && mi.Since > 0 && h.Ours.Have == h.Ours.Length && h.Ours.Length >= 1
	}, state(task.ID, bob, ana))
	online, _ := health()
	ana.stop()
	eventually(t, "Ana offline", func() bool {
		mi, h := health()
		return h.State == HealthOffline && slices.Contains(h.Why, WhyOffline) && mi.Since >= online.Since && !mi.Online
	}, state(task.ID, bob))
	if ms, _ := bob.Members(task.ID); ms[0].Health != nil {
		t.Fatal("this profile has a health")
	}
}
