package wire

import "strconv"

var payloadNames = map[PayloadType]string{
	PayloadNone:     "none",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Nonce",
	PayloadNotify:   "Notify",
	PayloadDelete:   "Delete",
	PayloadVendorID: "VendorID",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	PayloadSKF:      "SKF",
}

func (t PayloadType) String() string {
	if s, ok := payloadNames[t]; ok {
		return s
	}
	return "payload type " + strconv.Itoa(int(t))
}

var exchangeNames = map[ExchangeType]string{
	IKE_SA_INIT:     "IKE_SA_INIT",
	IKE_AUTH:        "IKE_AUTH",
	CREATE_CHILD_SA: "CREATE_CHILD_SA",
	INFORMATIONAL:   "INFORMATIONAL",
}

func (t ExchangeType) String() string {
	if s, ok := exchangeNames[t]; ok {
		return s
	}
	return "exchange " + strconv.Itoa(int(t))
}

var protocolNames = map[ProtocolID]string{
	ProtoNone: "none",
	ProtoIKE:  "IKE",
	ProtoAH:   "AH",
	ProtoESP:  "ESP",
}

func (p ProtocolID) String() string {
	if s, ok := protocolNames[p]; ok {
		return s
	}
	return "protocol " + strconv.Itoa(int(p))
}

var transformNames = map[TransformType]string{
	TransformENCR:  "ENCR",
	TransformPRF:   "PRF",
	TransformINTEG: "INTEG",
	TransformKE:    "KE",
	TransformESN:   "ESN",
}

func (t TransformType) String() string {
	if s, ok := transformNames[t]; ok {
		return s
	}
	if t >= TransformADDKE1 && t <= TransformADDKE1+6 {
		return "ADDKE" + strconv.Itoa(int(t-TransformADDKE1)+1)
	}
	return "transform type " + strconv.Itoa(int(t))
}

var notifyNames = map[NotifyType]string{
	UNSUPPORTED_CRITICAL_PAYLOAD:  "UNSUPPORTED_CRITICAL_PAYLOAD",
	INVALID_IKE_SPI:               "INVALID_IKE_SPI",
	INVALID_MAJOR_VERSION:         "INVALID_MAJOR_VERSION",
	INVALID_SYNTAX:                "INVALID_SYNTAX",
	INVALID_MESSAGE_ID:            "INVALID_MESSAGE_ID",
	INVALID_SPI:                   "INVALID_SPI",
	NO_PROPOSAL_CHOSEN:            "NO_PROPOSAL_CHOSEN",
	INVALID_KE_PAYLOAD:            "INVALID_KE_PAYLOAD",
	AUTHENTICATION_FAILED:         "AUTHENTICATION_FAILED",
	SINGLE_PAIR_REQUIRED:          "SINGLE_PAIR_REQUIRED",
	NO_ADDITIONAL_SAS:             "NO_ADDITIONAL_SAS",
	INTERNAL_ADDRESS_FAILURE:      "INTERNAL_ADDRESS_FAILURE",
	FAILED_CP_REQUIRED:            "FAILED_CP_REQUIRED",
	TS_UNACCEPTABLE:               "TS_UNACCEPTABLE",
	INVALID_SELECTORS:             "INVALID_SELECTORS",
	TEMPORARY_FAILURE:             "TEMPORARY_FAILURE",
	CHILD_SA_NOT_FOUND:            "CHILD_SA_NOT_FOUND",
	INITIAL_CONTACT:               "INITIAL_CONTACT",
	SET_WINDOW_SIZE:               "SET_WINDOW_SIZE",
	ADDITIONAL_TS_POSSIBLE:        "ADDITIONAL_TS_POSSIBLE",
	IPCOMP_SUPPORTED:              "IPCOMP_SUPPORTED",
	NAT_DETECTION_SOURCE_IP:       "NAT_DETECTION_SOURCE_IP",
	NAT_DETECTION_DESTINATION_IP:  "NAT_DETECTION_DESTINATION_IP",
	COOKIE:                        "COOKIE",
	USE_TRANSPORT_MODE:            "USE_TRANSPORT_MODE",
	HTTP_CERT_LOOKUP_SUPPORTED:    "HTTP_CERT_LOOKUP_SUPPORTED",
	REKEY_SA:                      "REKEY_SA",
	ESP_TFC_PADDING_NOT_SUPPORTED: "ESP_TFC_PADDING_NOT_SUPPORTED",
	NON_FIRST_FRAGMENTS_ALSO:      "NON_FIRST_FRAGMENTS_ALSO",
	MOBIKE_SUPPORTED:              "MOBIKE_SUPPORTED",
	MULTIPLE_AUTH_SUPPORTED:       "MULTIPLE_AUTH_SUPPORTED",
	REDIRECT_SUPPORTED:            "REDIRECT_SUPPORTED",
	CHILDLESS_IKEV2_SUPPORTED:     "CHILDLESS_IKEV2_SUPPORTED",
	IKEV2_FRAGMENTATION_SUPPORTED: "IKEV2_FRAGMENTATION_SUPPORTED",
	SIGNATURE_HASH_ALGORITHMS:     "SIGNATURE_HASH_ALGORITHMS",
}

func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return "notify " + strconv.Itoa(int(t))
}
