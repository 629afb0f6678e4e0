package analyzer

// cohort is what clients of one kind do together: which endpoints how many of them use,
// their transitions, and the distribution of their counters' peaks. A young client is
// compared with its cohort instead of with a baseline it does not have yet.
type cohort struct {
	Clients   uint32
	EPClients map[uint32]uint32
	Trans     map[uint64]float32
	From      map[uint32]float32
	// PeakHist counts mature members by the half-octave bucket of each counter's peak.
	PeakHist [nCounters][64]uint32
	Mature   uint32
	// Roles are the role-like groups of the cohort's clients (see roleGroup).
	Roles []*roleGroup
}

func newCohort() *cohort {
	return &cohort{EPClients: map[uint32]uint32{}, Trans: map[uint64]float32{}, From: map[uint32]float32{}}
}

func transKey(from, to uint32) uint64 { return uint64(from)<<32 | uint64(to) }

// share is the fraction of the cohort's clients that used ep.
func (c *cohort) share(ep uint32) float64 {
	if c.Clients == 0 {
		return 0
	}
	return float64(c.EPClients[ep]) / float64(c.Clients)
}

// addTransition counts from->to, halving the row when it grows large.
func (c *cohort) addTransition(from, to uint32) {
	k := transKey(from, to)
	c.Trans[k]++
	c.From[from]++
	if c.From[from] > 1<<20 {
		for kk, v := range c.Trans {
			if uint32(kk>>32) == from {
				c.Trans[kk] = v / 2
			}
		}
		c.From[from] /= 2
	}
}

// peakQuantile returns the q-quantile of the mature members' peaks of counter i, or 0
// with fewer than minMembers members.
func (c *cohort) peakQuantile(i int, q float64, minMembers uint32) float64 {
	var n uint32
	for _, v := range c.PeakHist[i] {
		n += v
	}
	if n < minMembers {
		return 0
	}
	target := uint32(q*float64(n)) + 1
	var acc uint32
	for b, v := range c.PeakHist[i] {
		acc += v
		if acc >= target {
			return bucketValue(b + 1)
		}
	}
	return bucketValue(63)
}

// registerPeaks moves a mature member's peaks to their current buckets, in its kind's
// cohort and in the population's.
func registerPeaks(p *Profile, cs ...*cohort) {
	for i := range p.Peaks {
		b := uint8(log2Bucket(float64(p.Peaks[i])) + 1) // +1: 0 means unregistered
		if b == p.PeakBucket[i] {
			continue
		}
		for _, c := range cs {
			if p.PeakBucket[i] != 0 {
				if h := &c.PeakHist[i][p.PeakBucket[i]-1]; *h > 0 {
					*h--
				}
			}
			c.PeakHist[i][b-1]++
		}
		p.PeakBucket[i] = b
	}
}

// roleGroup is a role-like group of clients of one kind learned from behaviour: clients
// whose endpoints are mostly the group's common endpoints join it when they mature.
// Admins and shoppers of one app are both humans, but different groups.
type roleGroup struct {
	Members   uint32
	EPClients map[uint32]uint32
}

const (
	maxRoleGroups = 32
	// roleJoin is the least share of a client's endpoints that must be common in a group
	// (used by half its members) for the client to join it.
	roleJoin = 0.6
	// roleMinMembers is the group size from which its function set is trusted.
	roleMinMembers = 5
)

// assignRole places a newly mature client in the role group of its kind whose common
// endpoints cover most of its own, or opens a new group. It returns the group index + 1.
func (c *cohort) assignRole(p *Profile) uint8 {
	best, bestScore := -1, -1.0
	for gi, g := range c.Roles {
		var common int
		for _, e := range p.Endpoints {
			if 2*g.EPClients[e.EP] >= g.Members {
				common++
			}
		}
		score := float64(common) / float64(max(len(p.Endpoints), 1))
		if score > bestScore {
			best, bestScore = gi, score
		}
	}
	if best < 0 || bestScore < roleJoin && len(c.Roles) < maxRoleGroups {
		c.Roles = append(c.Roles, &roleGroup{EPClients: map[uint32]uint32{}})
		best = len(c.Roles) - 1
	}
	g := c.Roles[best]
	g.Members++
	for _, e := range p.Endpoints {
		g.EPClients[e.EP]++
	}
	return uint8(best + 1)
}

// roleShare is the share of the client's role group that used ep; ok is false when the
// client has no group or the group is too small to trust.
func (c *cohort) roleShare(p *Profile, ep uint32) (share float64, members uint32, ok bool) {
	if p.Role == 0 || int(p.Role) > len(c.Roles) {
		return 0, 0, false
	}
	g := c.Roles[p.Role-1]
	if g.Members < roleMinMembers {
		return 0, g.Members, false
	}
	return float64(g.EPClients[ep]) / float64(g.Members), g.Members, true
}

// noteRoleEndpoint counts a member's first use of ep in its group.
func (c *cohort) noteRoleEndpoint(p *Profile, ep uint32) {
	if p.Role == 0 || int(p.Role) > len(c.Roles) {
		return
	}
	c.Roles[p.Role-1].EPClients[ep]++
}

// otherRoleShare returns the largest share of ep's use among the role groups (of any
// kind, with at least minMembers members, three of them using ep) other than the client's
// own: how much ep is the core function of some other role.
func otherRoleShare(cohorts []*cohort, p *Profile, ep uint32, minMembers uint32) (share float64, kind uint8, members uint32) {
	for k, c := range cohorts {
		// Agents act with the rights of the users they serve: their tools are user
		// functions, not another role's, for anyone but another agent.
		if uint8(k) == KindAgent && p.Kind != KindAgent {
			continue
		}
		for gi, g := range c.Roles {
			if uint8(k) == p.Kind && uint8(gi+1) == p.Role || g.Members < minMembers {
				continue
			}
			n := g.EPClients[ep]
			if n < 3 {
				continue
			}
			if s := float64(n) / float64(g.Members); s > share {
				share, kind, members = s, uint8(k), g.Members
			}
		}
	}
	return share, kind, members
}
