package analyzer

// population is what every client does together: the endpoint inventory, transitions,
// how many clients are active and how many see errors, so that changes affecting
// everyone (a deploy, an outage) are told apart from one client's deviation.
type population struct {
	Endpoints *endpointTable
	Cohorts   [nKinds]*cohort
	All       *cohort
	Calls     float64
	Start     int64 // capture time of the first call
	// Activity in one-minute windows: distinct active clients and distinct clients that
	// saw server errors, current and previous window.
	Win                    int64
	Active, PrevActive     uint32
	ErrClients, PrevErrCli uint32
	OutageUntil            int64
	OutageSince            int64
	// Size is a half-octave histogram of every response size.
	Size [40]uint32
	// IDs is a two-generation Bloom filter of every (endpoint, object id) any client
	// touched, to tell shared objects (a catalogue) from owned ones.
	IDs  [2][popBloomWords]uint64
	IDsN uint32
}

func newPopulation() *population {
	p := &population{Endpoints: newEndpointTable(), All: newCohort()}
	for i := range p.Cohorts {
		p.Cohorts[i] = newCohort()
	}
	return p
}

// outageWindowNS is the length of an activity window.
const outageWindowNS = int64(60e9)

// roll advances the activity windows to ts.
func (pp *population) roll(ts int64) {
	w := ts / outageWindowNS
	if w == pp.Win {
		return
	}
	if w == pp.Win+1 {
		pp.PrevActive, pp.PrevErrCli = pp.Active, pp.ErrClients
	} else {
		pp.PrevActive, pp.PrevErrCli = 0, 0
	}
	pp.Active, pp.ErrClients = 0, 0
	pp.Win = w
}

// activeClients is the larger of the current and previous window's active clients.
func (pp *population) activeClients() uint32 {
	return max(pp.Active, pp.PrevActive)
}

// noteError records a client seeing a server error and declares an outage when a
// sizeable share of the active clients see errors in the same minute.
func (pp *population) noteError(ts int64) {
	errs := max(pp.ErrClients, pp.PrevErrCli)
	act := pp.activeClients()
	if errs >= 3 && float64(errs) >= 0.1*float64(act) {
		if pp.OutageUntil < ts {
			pp.OutageSince = ts
		}
		pp.OutageUntil = ts + 3*outageWindowNS
	}
}

// inOutage reports whether a population-wide error episode covers ts.
func (pp *population) inOutage(ts int64) bool { return ts <= pp.OutageUntil }

// probability returns P(to | from) for a client, backed off to its cohort, then the
// population, then the endpoint's overall frequency. Smoothing weights are pseudo-counts.
func (pp *population) probability(p *Profile, from, to uint32, ts int64) float64 {
	const betaClient, betaCohort, betaPop = 4.0, 4.0, 1.0
	nEP := float64(len(pp.Endpoints.List))
	var epCalls float64
	if int(to) < len(pp.Endpoints.List) {
		epCalls = float64(pp.Endpoints.List[to].Calls)
	}
	uni := (epCalls + 1) / (pp.Calls + nEP)
	all := pp.All
	pAll := (float64(all.Trans[transKey(from, to)]) + betaPop*uni) / (float64(all.From[from]) + betaPop)
	co := pp.Cohorts[p.Kind]
	pCo := (float64(co.Trans[transKey(from, to)]) + betaCohort*pAll) / (float64(co.From[from]) + betaCohort)
	n, out := p.transition(from, to, ts)
	return (n + betaClient*pCo) / (out + betaClient)
}

// sizeQuantile returns the q-quantile of all response sizes.
func (pp *population) sizeQuantile(q float64) float64 {
	e := endpoint{Size: pp.Size}
	return e.sizeQuantile(q)
}

// popBloomWords sizes each generation of the population's object filter: 4 Mbit, about
// 5% false positives at popBloomGen objects.
const (
	popBloomWords = 1 << 16
	popBloomGen   = 300000
)

func popBloomBits(h uint64) (a, b, c uint64) {
	h = mix64(h)
	const m = 64 * popBloomWords
	return h % m, (h >> 22) % m, (h >> 42) % m
}

// idKnown reports whether any client touched the object before.
func (pp *population) idKnown(h uint64) bool {
	a, b, c := popBloomBits(h)
	for g := 0; g < 2; g++ {
		f := &pp.IDs[g]
		if f[a/64]&(1<<(a%64)) != 0 && f[b/64]&(1<<(b%64)) != 0 && f[c/64]&(1<<(c%64)) != 0 {
			return true
		}
	}
	return false
}

// addID records an object, rotating generations so the filter never saturates.
func (pp *population) addID(h uint64) {
	if pp.IDsN >= popBloomGen {
		pp.IDs[1] = pp.IDs[0]
		pp.IDs[0] = [popBloomWords]uint64{}
		pp.IDsN = 0
	}
	a, b, c := popBloomBits(h)
	f := &pp.IDs[0]
	f[a/64] |= 1 << (a % 64)
	f[b/64] |= 1 << (b % 64)
	f[c/64] |= 1 << (c % 64)
	pp.IDsN++
}
