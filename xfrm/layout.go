package xfrm

// Layouts of the structures of linux/xfrm.h (uapi) as the kernel lays them
// out on 64-bit ABIs (amd64, arm64, ...: __u64 is 8-byte aligned; 32-bit
// x86 packs them differently and is not supported). Multi-byte fields are
// in host order except addresses, ports and SPIs, which are big-endian.
// Every offset is written out so it can be checked against the header.

// Netlink and XFRM constants (linux/netlink.h, linux/xfrm.h).
const (
	afInet  = 2
	afInet6 = 10

	xfrmMsgNewSA      = 0x10
	xfrmMsgDelSA      = 0x11
	xfrmMsgGetSA      = 0x12
	xfrmMsgNewPolicy  = 0x13
	xfrmMsgDelPolicy  = 0x14
	xfrmMsgGetPolicy  = 0x15
	xfrmMsgAllocSPI   = 0x16
	xfrmMsgAcquire    = 0x17
	xfrmMsgExpire     = 0x18
	xfrmMsgUpdPolicy  = 0x19
	xfrmMsgUpdSA      = 0x1a
	xfrmMsgPolExpire  = 0x1b
	xfrmnlgrpAcquire  = 1 // group numbers; the bind mask is 1<<(n-1)
	xfrmnlgrpExpire   = 2
	xfrmStateESN      = 128 // xfrm_usersa_info.flags
	xfrmModeTransport = 0
	xfrmPolicyAllow   = 0
	xfrmPolicyIn      = 0 // kernel policy directions
	xfrmPolicyOut     = 1
	xfrmPolicyFwd     = 2
	xfrmInf           = ^uint64(0)
	espInUDP          = 2 // UDP_ENCAP_ESPINUDP
	ipprotoESP        = 50
	ipprotoICMPv6     = 58

	// Attribute types (enum xfrm_attr_type_t).
	xfrmaAlgAuth      = 1
	xfrmaAlgCrypt     = 2
	xfrmaEncap        = 4
	xfrmaTmpl         = 5
	xfrmaReplayVal    = 10
	xfrmaAlgAEAD      = 18
	xfrmaAlgAuthTrunc = 20
	xfrmaMark         = 21
	xfrmaReplayESNVal = 23
	xfrmaIfID         = 31
	nlaTypeMask       = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// xfrm_address_t: a union of __be32 a4 and __be32 a6[4].
const sizeofAddress = 16

// struct xfrm_selector.
const (
	selDaddr       = 0  // xfrm_address_t
	selSaddr       = 16 // xfrm_address_t
	selDport       = 32 // __be16
	selDportMask   = 34 // __be16
	selSport       = 36 // __be16
	selSportMask   = 38 // __be16
	selFamily      = 40 // __u16
	selPrefixlenD  = 42 // __u8
	selPrefixlenS  = 43 // __u8
	selProto       = 44 // __u8, then 3 bytes of padding
	selIfindex     = 48 // int
	selUser        = 52 // __kernel_uid32_t
	sizeofSelector = 56
)

// struct xfrm_lifetime_cfg: eight __u64 limits.
const (
	lftSoftBytes      = 0
	lftHardBytes      = 8
	lftSoftPackets    = 16
	lftHardPackets    = 24
	lftSoftAdd        = 32
	lftHardAdd        = 40
	lftSoftUse        = 48
	lftHardUse        = 56
	sizeofLifetimeCfg = 64
)

// struct xfrm_lifetime_cur: bytes, packets, add_time, use_time (__u64).
const (
	curBytes          = 0
	curPackets        = 8
	curAddTime        = 16
	curUseTime        = 24
	sizeofLifetimeCur = 32
)

// struct xfrm_id.
const (
	idDaddr  = 0  // xfrm_address_t
	idSPI    = 16 // __be32
	idProto  = 20 // __u8, then 3 bytes of padding
	sizeofID = 24
)

// struct xfrm_stats: replay_window, replay, integrity_failed (__u32).
const (
	statsReplayWindow    = 0
	statsReplay          = 4
	statsIntegrityFailed = 8
	sizeofStats          = 12
)

// struct xfrm_usersa_info.
const (
	saSel            = 0   // xfrm_selector
	saID             = 56  // xfrm_id
	saSaddr          = 80  // xfrm_address_t
	saLft            = 96  // xfrm_lifetime_cfg
	saCurlft         = 160 // xfrm_lifetime_cur
	saStats          = 192 // xfrm_stats
	saSeq            = 204 // __u32
	saReqid          = 208 // __u32
	saFamily         = 212 // __u16
	saMode           = 214 // __u8
	saReplayWindow   = 215 // __u8
	saFlags          = 216 // __u8, then 7 bytes of padding
	sizeofUsersaInfo = 224
)

// struct xfrm_usersa_id.
const (
	usaDaddr       = 0  // xfrm_address_t
	usaSPI         = 16 // __be32
	usaFamily      = 20 // __u16
	usaProto       = 22 // __u8, then 1 byte of padding
	sizeofUsersaID = 24
)

// struct xfrm_userpolicy_info.
const (
	polSel               = 0   // xfrm_selector
	polLft               = 56  // xfrm_lifetime_cfg
	polCurlft            = 120 // xfrm_lifetime_cur
	polPriority          = 152 // __u32
	polIndex             = 156 // __u32
	polDir               = 160 // __u8
	polAction            = 161 // __u8
	polFlags             = 162 // __u8
	polShare             = 163 // __u8, then 4 bytes of padding
	sizeofUserpolicyInfo = 168
)

// struct xfrm_user_tmpl.
const (
	tmplID         = 0  // xfrm_id
	tmplFamily     = 24 // __u16, then 2 bytes of padding
	tmplSaddr      = 28 // xfrm_address_t
	tmplReqid      = 44 // __u32
	tmplMode       = 48 // __u8
	tmplShare      = 49 // __u8
	tmplOptional   = 50 // __u8, then 1 byte of padding
	tmplAalgos     = 52 // __u32
	tmplEalgos     = 56 // __u32
	tmplCalgos     = 60 // __u32
	sizeofUserTmpl = 64
)

// struct xfrm_user_acquire.
const (
	acqID             = 0   // xfrm_id
	acqSaddr          = 24  // xfrm_address_t
	acqSel            = 40  // xfrm_selector
	acqPolicy         = 96  // xfrm_userpolicy_info
	acqAalgos         = 264 // __u32
	acqEalgos         = 268 // __u32
	acqCalgos         = 272 // __u32
	acqSeq            = 276 // __u32
	sizeofUserAcquire = 280
)

// struct xfrm_user_expire.
const (
	expState         = 0   // xfrm_usersa_info
	expHard          = 224 // __u8, then 7 bytes of padding
	sizeofUserExpire = 232
)

// struct xfrm_algo, xfrm_algo_auth and xfrm_algo_aead: a 64-byte name,
// the key length in bits, (the truncation or ICV length,) then the key.
const (
	algoName       = 0
	algoKeyLen     = 64
	sizeofAlgo     = 68 // xfrm_algo header
	sizeofAlgoAuth = 72 // xfrm_algo_auth header (alg_trunc_len at 68)
	sizeofAlgoAEAD = 72 // xfrm_algo_aead header (alg_icv_len at 68)
)

// struct xfrm_encap_tmpl.
const (
	encapType       = 0 // __u16
	encapSport      = 2 // __be16
	encapDport      = 4 // __be16, then 2 bytes of padding
	encapOA         = 8 // xfrm_address_t
	sizeofEncapTmpl = 24
)

// struct xfrm_replay_state_esn: bmp_len, oseq, seq, oseq_hi, seq_hi,
// replay_window (__u32), then bmp_len __u32 words of bitmap.
const (
	esnBmpLen       = 0
	esnOseq         = 4
	esnSeq          = 8
	esnOseqHi       = 12
	esnSeqHi        = 16
	esnReplayWindow = 20
	sizeofReplayESN = 24
)

// struct nlmsghdr and struct nlattr.
const (
	sizeofNlmsghdr = 16
	sizeofNlattr   = 4
)
