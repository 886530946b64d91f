package wire

// Protocol constants from RFC 7296 and the IANA "IKEv2 Parameters" registry.
// They are kept apart from the codec so that other packages can name them
// without pulling in message handling.

// ExchangeType is the exchange type of an IKE message header (RFC 7296 3.1).
type ExchangeType uint8

const (
	IKE_SA_INIT     ExchangeType = 34
	IKE_AUTH        ExchangeType = 35
	CREATE_CHILD_SA ExchangeType = 36
	INFORMATIONAL   ExchangeType = 37
)

// Header flags (RFC 7296 3.1).
const (
	FlagInitiator uint8 = 0x08
	FlagVersion   uint8 = 0x10
	FlagResponse  uint8 = 0x20
)

// PayloadType is the "Next Payload" value naming a payload (RFC 7296 3.2).
type PayloadType uint8

const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53 // RFC 7383
)

// ProtocolID names the protocol of a proposal, notification or delete (RFC 7296 3.3.1).
type ProtocolID uint8

const (
	ProtoNone ProtocolID = 0
	ProtoIKE  ProtocolID = 1
	ProtoAH   ProtocolID = 2
	ProtoESP  ProtocolID = 3
)

// TransformType is the type of a transform substructure (RFC 7296 3.3.2, RFC 9370).
type TransformType uint8

const (
	TransformENCR   TransformType = 1
	TransformPRF    TransformType = 2
	TransformINTEG  TransformType = 3
	TransformKE     TransformType = 4 // "Diffie-Hellman Group", renamed Key Exchange Method by RFC 9370
	TransformESN    TransformType = 5
	TransformADDKE1 TransformType = 6 // RFC 9370 additional key exchanges 1..7 are 6..12
)

// Encryption algorithm transform IDs.
const (
	ENCR_DES                uint16 = 2
	ENCR_3DES               uint16 = 3
	ENCR_NULL               uint16 = 11
	ENCR_AES_CBC            uint16 = 12
	ENCR_AES_CTR            uint16 = 13
	ENCR_AES_CCM_16         uint16 = 16
	ENCR_AES_GCM_8          uint16 = 18
	ENCR_AES_GCM_12         uint16 = 19
	ENCR_AES_GCM_16         uint16 = 20
	ENCR_NULL_AUTH_AES_GMAC uint16 = 21
	ENCR_CHACHA20_POLY1305  uint16 = 28
)

// Pseudorandom function transform IDs.
const (
	PRF_HMAC_MD5      uint16 = 1
	PRF_HMAC_SHA1     uint16 = 2
	PRF_AES128_XCBC   uint16 = 4
	PRF_HMAC_SHA2_256 uint16 = 5
	PRF_HMAC_SHA2_384 uint16 = 6
	PRF_HMAC_SHA2_512 uint16 = 7
)

// Integrity algorithm transform IDs.
const (
	AUTH_NONE              uint16 = 0
	AUTH_HMAC_MD5_96       uint16 = 1
	AUTH_HMAC_SHA1_96      uint16 = 2
	AUTH_AES_XCBC_96       uint16 = 5
	AUTH_HMAC_SHA2_256_128 uint16 = 12
	AUTH_HMAC_SHA2_384_192 uint16 = 13
	AUTH_HMAC_SHA2_512_256 uint16 = 14
)

// Key exchange method (Diffie-Hellman group) transform IDs.
const (
	KE_NONE     uint16 = 0
	KE_MODP1024 uint16 = 2
	KE_MODP2048 uint16 = 14
	KE_MODP3072 uint16 = 15
	KE_MODP4096 uint16 = 16
	KE_ECP256   uint16 = 19
	KE_ECP384   uint16 = 20
	KE_ECP521   uint16 = 21
	KE_X25519   uint16 = 31
	KE_X448     uint16 = 32
	KE_MLKEM768 uint16 = 36
)

// Extended sequence number transform IDs.
const (
	ESN_NO  uint16 = 0
	ESN_YES uint16 = 1
)

// Transform attribute types (RFC 7296 3.3.5).
const (
	AttrKeyLength uint16 = 14
)

// IDType is the identification type of an ID payload (RFC 7296 3.5).
type IDType uint8

const (
	ID_IPV4_ADDR   IDType = 1
	ID_FQDN        IDType = 2
	ID_RFC822_ADDR IDType = 3
	ID_IPV6_ADDR   IDType = 5
	ID_DER_ASN1_DN IDType = 9
	ID_DER_ASN1_GN IDType = 10
	ID_KEY_ID      IDType = 11
)

// AuthMethod is the authentication method of an AUTH payload (RFC 7296 3.8, RFC 7427).
type AuthMethod uint8

const (
	AuthRSASig           AuthMethod = 1
	AuthSharedKeyMIC     AuthMethod = 2
	AuthDSS              AuthMethod = 3
	AuthECDSA256         AuthMethod = 9
	AuthECDSA384         AuthMethod = 10
	AuthECDSA521         AuthMethod = 11
	AuthNull             AuthMethod = 13
	AuthDigitalSignature AuthMethod = 14
)

// CertEncoding is the encoding of a CERT or CERTREQ payload (RFC 7296 3.6).
type CertEncoding uint8

const (
	CertX509Signature CertEncoding = 4
)

// TSType is the type of a traffic selector (RFC 7296 3.13.1).
type TSType uint8

const (
	TS_IPV4_ADDR_RANGE TSType = 7
	TS_IPV6_ADDR_RANGE TSType = 8
)

// NotifyType is the type of a Notify payload (RFC 7296 3.10.1).
// Types below 16384 are errors, the others status.
type NotifyType uint16

// Error notifications.
const (
	UNSUPPORTED_CRITICAL_PAYLOAD NotifyType = 1
	INVALID_IKE_SPI              NotifyType = 4
	INVALID_MAJOR_VERSION        NotifyType = 5
	INVALID_SYNTAX               NotifyType = 7
	INVALID_MESSAGE_ID           NotifyType = 9
	INVALID_SPI                  NotifyType = 11
	NO_PROPOSAL_CHOSEN           NotifyType = 14
	INVALID_KE_PAYLOAD           NotifyType = 17
	AUTHENTICATION_FAILED        NotifyType = 24
	SINGLE_PAIR_REQUIRED         NotifyType = 34
	NO_ADDITIONAL_SAS            NotifyType = 35
	INTERNAL_ADDRESS_FAILURE     NotifyType = 36
	FAILED_CP_REQUIRED           NotifyType = 37
	TS_UNACCEPTABLE              NotifyType = 38
	INVALID_SELECTORS            NotifyType = 39
	TEMPORARY_FAILURE            NotifyType = 43
	CHILD_SA_NOT_FOUND           NotifyType = 44
)

// Status notifications.
const (
	INITIAL_CONTACT               NotifyType = 16384
	SET_WINDOW_SIZE               NotifyType = 16385
	ADDITIONAL_TS_POSSIBLE        NotifyType = 16386
	IPCOMP_SUPPORTED              NotifyType = 16387
	NAT_DETECTION_SOURCE_IP       NotifyType = 16388
	NAT_DETECTION_DESTINATION_IP  NotifyType = 16389
	COOKIE                        NotifyType = 16390
	USE_TRANSPORT_MODE            NotifyType = 16391
	HTTP_CERT_LOOKUP_SUPPORTED    NotifyType = 16392
	REKEY_SA                      NotifyType = 16393
	ESP_TFC_PADDING_NOT_SUPPORTED NotifyType = 16394
	NON_FIRST_FRAGMENTS_ALSO      NotifyType = 16395
	MOBIKE_SUPPORTED              NotifyType = 16396
	MULTIPLE_AUTH_SUPPORTED       NotifyType = 16404
	REDIRECT_SUPPORTED            NotifyType = 16406
	CHILDLESS_IKEV2_SUPPORTED     NotifyType = 16418
	IKEV2_FRAGMENTATION_SUPPORTED NotifyType = 16430
	SIGNATURE_HASH_ALGORITHMS     NotifyType = 16431
)

// IsError reports whether the notification type is an error (below 16384).
func (t NotifyType) IsError() bool { return t < 16384 }
