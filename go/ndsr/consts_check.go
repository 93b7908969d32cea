package ndsr

// The constants in ndsr.go are literal numbers, so that `go doc` shows them; these checks make
// the build fail if one differs from the header's (a negative constant overflows uint).

/*
#include "ndsr.h"
*/
import "C"

const (
	_ = uint(int(OK)-int(C.NDSR_OK)) + uint(int(C.NDSR_OK)-int(OK))
	_ = uint(int(Queued)-int(C.NDSR_QUEUED)) + uint(int(C.NDSR_QUEUED)-int(Queued))
	_ = uint(int(EInvalidArgument)-int(C.NDSR_E_INVALID_ARGUMENT)) + uint(int(C.NDSR_E_INVALID_ARGUMENT)-int(EInvalidArgument))
	_ = uint(int(ENoConnection)-int(C.NDSR_E_NO_CONNECTION)) + uint(int(C.NDSR_E_NO_CONNECTION)-int(ENoConnection))
	_ = uint(int(EReadOnly)-int(C.NDSR_E_READ_ONLY)) + uint(int(C.NDSR_E_READ_ONLY)-int(EReadOnly))
	_ = uint(int(ENoAuth)-int(C.NDSR_E_NO_AUTH)) + uint(int(C.NDSR_E_NO_AUTH)-int(ENoAuth))
	_ = uint(int(EAuthFailed)-int(C.NDSR_E_AUTH_FAILED)) + uint(int(C.NDSR_E_AUTH_FAILED)-int(EAuthFailed))
	_ = uint(int(ETooLarge)-int(C.NDSR_E_TOO_LARGE)) + uint(int(C.NDSR_E_TOO_LARGE)-int(ETooLarge))
	_ = uint(int(ETimeout)-int(C.NDSR_E_TIMEOUT)) + uint(int(C.NDSR_E_TIMEOUT)-int(ETimeout))
	_ = uint(int(EClosed)-int(C.NDSR_E_CLOSED)) + uint(int(C.NDSR_E_CLOSED)-int(EClosed))
	_ = uint(int(EInternal)-int(C.NDSR_E_INTERNAL)) + uint(int(C.NDSR_E_INTERNAL)-int(EInternal))
	_ = uint(int(ENotFound)-int(C.NDSR_E_NOT_FOUND)) + uint(int(C.NDSR_E_NOT_FOUND)-int(ENotFound))
	_ = uint(int(EZooKeeper)-int(C.NDSR_E_ZOOKEEPER)) + uint(int(C.NDSR_E_ZOOKEEPER)-int(EZooKeeper))
	_ = uint(int(ELockLost)-int(C.NDSR_E_LOCK_LOST)) + uint(int(C.NDSR_E_LOCK_LOST)-int(ELockLost))
	_ = uint(int(EConflict)-int(C.NDSR_E_CONFLICT)) + uint(int(C.NDSR_E_CONFLICT)-int(EConflict))
	_ = uint(int(Disconnected)-int(C.NDSR_STATE_DISCONNECTED)) + uint(int(C.NDSR_STATE_DISCONNECTED)-int(Disconnected))
	_ = uint(int(Connected)-int(C.NDSR_STATE_CONNECTED)) + uint(int(C.NDSR_STATE_CONNECTED)-int(Connected))
	_ = uint(int(ConnectedReadOnly)-int(C.NDSR_STATE_CONNECTED_READ_ONLY)) + uint(int(C.NDSR_STATE_CONNECTED_READ_ONLY)-int(ConnectedReadOnly))
	_ = uint(int(Expired)-int(C.NDSR_STATE_EXPIRED)) + uint(int(C.NDSR_STATE_EXPIRED)-int(Expired))
	_ = uint(int(AuthFailed)-int(C.NDSR_STATE_AUTH_FAILED)) + uint(int(C.NDSR_STATE_AUTH_FAILED)-int(AuthFailed))
	_ = uint(int(Closed)-int(C.NDSR_STATE_CLOSED)) + uint(int(C.NDSR_STATE_CLOSED)-int(Closed))
)
