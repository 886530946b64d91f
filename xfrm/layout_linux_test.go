//go:build linux

package xfrm

import (
	"testing"
	"unsafe"

	"github.com/vishvananda/netlink/nl"
)

// TestLayoutMatchesLibrary cross-checks layout.go against the Go structs
// of github.com/vishvananda/netlink/nl, an independent transcription of
// linux/xfrm.h whose layout the compiler computes.
func TestLayoutMatchesLibrary(t *testing.T) {
	var sel nl.XfrmSelector
	var sa nl.XfrmUsersaInfo
	var pol nl.XfrmUserpolicyInfo
	var tm nl.XfrmUserTmpl
	var ex nl.XfrmUserExpire
	var id nl.XfrmUsersaId
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof selector", sizeofSelector, unsafe.Sizeof(sel)},
		{"sel.dport", selDport, unsafe.Offsetof(sel.Dport)},
		{"sel.sport_mask", selSportMask, unsafe.Offsetof(sel.SportMask)},
		{"sel.family", selFamily, unsafe.Offsetof(sel.Family)},
		{"sel.prefixlen_s", selPrefixlenS, unsafe.Offsetof(sel.PrefixlenS)},
		{"sel.proto", selProto, unsafe.Offsetof(sel.Proto)},
		{"sel.ifindex", selIfindex, unsafe.Offsetof(sel.Ifindex)},
		{"sizeof usersa_info", sizeofUsersaInfo, unsafe.Sizeof(sa)},
		{"sa.id", saID, unsafe.Offsetof(sa.Id)},
		{"sa.saddr", saSaddr, unsafe.Offsetof(sa.Saddr)},
		{"sa.lft", saLft, unsafe.Offsetof(sa.Lft)},
		{"sa.curlft", saCurlft, unsafe.Offsetof(sa.Curlft)},
		{"sa.stats", saStats, unsafe.Offsetof(sa.Stats)},
		{"sa.reqid", saReqid, unsafe.Offsetof(sa.Reqid)},
		{"sa.family", saFamily, unsafe.Offsetof(sa.Family)},
		{"sa.replay_window", saReplayWindow, unsafe.Offsetof(sa.ReplayWindow)},
		{"sa.flags", saFlags, unsafe.Offsetof(sa.Flags)},
		{"id.spi", idSPI, unsafe.Offsetof(sa.Id.Spi)},
		{"id.proto", idProto, unsafe.Offsetof(sa.Id.Proto)},
		{"sizeof userpolicy_info", sizeofUserpolicyInfo, unsafe.Sizeof(pol)},
		{"pol.lft", polLft, unsafe.Offsetof(pol.Lft)},
		{"pol.priority", polPriority, unsafe.Offsetof(pol.Priority)},
		{"pol.dir", polDir, unsafe.Offsetof(pol.Dir)},
		{"pol.action", polAction, unsafe.Offsetof(pol.Action)},
		{"sizeof user_tmpl", sizeofUserTmpl, unsafe.Sizeof(tm)},
		{"tmpl.family", tmplFamily, unsafe.Offsetof(tm.Family)},
		{"tmpl.saddr", tmplSaddr, unsafe.Offsetof(tm.Saddr)},
		{"tmpl.reqid", tmplReqid, unsafe.Offsetof(tm.Reqid)},
		{"tmpl.optional", tmplOptional, unsafe.Offsetof(tm.Optional)},
		{"tmpl.aalgos", tmplAalgos, unsafe.Offsetof(tm.Aalgos)},
		{"sizeof user_expire", sizeofUserExpire, unsafe.Sizeof(ex)},
		{"expire.hard", expHard, unsafe.Offsetof(ex.Hard)},
		{"sizeof usersa_id", sizeofUsersaID, unsafe.Sizeof(id)},
		{"usersa_id.spi", usaSPI, unsafe.Offsetof(id.Spi)},
		{"usersa_id.family", usaFamily, unsafe.Offsetof(id.Family)},
		{"usersa_id.proto", usaProto, unsafe.Offsetof(id.Proto)},
		{"sizeof xfrm_algo", sizeofAlgo, nl.SizeofXfrmAlgo},
		{"sizeof xfrm_algo_aead", sizeofAlgoAEAD, nl.SizeofXfrmAlgoAEAD},
		{"sizeof encap_tmpl", sizeofEncapTmpl, nl.SizeofXfrmEncapTmpl},
		{"sizeof replay_state_esn", sizeofReplayESN, nl.SizeofXfrmReplayStateEsn},
		{"sizeof userspi_info", sizeofUsersaInfo + 8, nl.SizeofXfrmUserSpiInfo},
	} {
		if c.got != c.want {
			t.Errorf("%s: layout.go says %d, the library %d", c.name, c.got, c.want)
		}
	}
	// xfrm_user_acquire is not in the library: derive it from the parts.
	if acqSel != sizeofID+sizeofAddress || acqPolicy != acqSel+sizeofSelector ||
		acqAalgos != acqPolicy+sizeofUserpolicyInfo || sizeofUserAcquire != acqSeq+4 {
		t.Error("xfrm_user_acquire offsets do not add up")
	}
}
