package message

import (
	"errors"
	"fmt"
)

// Code is a numeric Aleph processing error code, as stored with rejected
// messages and returned by the API in "error_code".
type Code int

// The error codes of the Aleph protocol. The table of names and kinds is
// Codes; keep both in step.
const (
	CodeInternalError           Code = -1
	CodeInvalidFormat           Code = 0
	CodeInvalidSignature        Code = 1
	CodePermissionDenied        Code = 2
	CodeContentUnavailable      Code = 3
	CodeFileUnavailable         Code = 4
	CodeBalanceInsufficient     Code = 5
	CodeCreditInsufficient      Code = 6
	CodePostAmendNoTarget       Code = 100
	CodePostAmendTargetNotFound Code = 101
	CodePostAmendAmend          Code = 102
	CodeStoreRefNotFound        Code = 200
	CodeStoreUpdateUpdate       Code = 201
	CodeInvalidPaymentMethod    Code = 202
	CodeVMRefNotFound           Code = 300
	CodeVMVolumeNotFound        Code = 301
	CodeVMAmendNotAllowed       Code = 302
	CodeVMUpdateUpdate          Code = 303
	CodeVMVolumeTooSmall        Code = 304
	CodeForgetNoTarget          Code = 500
	CodeForgetTargetNotFound    Code = 501
	CodeForgetForget            Code = 502
	CodeForgetNotAllowed        Code = 503
	CodeForgottenDuplicate      Code = 504
)

// CodeInfo describes one error code.
type CodeInfo struct {
	Code    Code
	Name    string
	Retry   bool   // the condition may resolve itself: the message is retried
	Meaning string // one line for documentation
}

// Codes is the table of every error code, in numeric order. Documentation
// (docs/errors.md) is generated from it.
var Codes = []CodeInfo{
	{CodeInternalError, "INTERNAL_ERROR", true, "unexpected error while processing"},
	{CodeInvalidFormat, "INVALID_FORMAT", false, "malformed envelope or content"},
	{CodeInvalidSignature, "INVALID_SIGNATURE", false, "missing or invalid signature, or unsupported chain"},
	{CodePermissionDenied, "PERMISSION_DENIED", false, "sender is not authorized by the owner's security aggregate"},
	{CodeContentUnavailable, "CONTENT_UNAVAILABLE", true, "non-inline item content could not be fetched"},
	{CodeFileUnavailable, "FILE_UNAVAILABLE", true, "a file the message needs could not be fetched"},
	{CodeBalanceInsufficient, "BALANCE_INSUFFICIENT", false, "held balance below the cost"},
	{CodeCreditInsufficient, "CREDIT_INSUFFICIENT", false, "credit balance below one day of runtime"},
	{CodePostAmendNoTarget, "POST_AMEND_NO_TARGET", false, "amend without ref"},
	{CodePostAmendTargetNotFound, "POST_AMEND_TARGET_NOT_FOUND", true, "the amended post is not known yet"},
	{CodePostAmendAmend, "POST_AMEND_AMEND", false, "an amend cannot amend another amend"},
	{CodeStoreRefNotFound, "STORE_REF_NOT_FOUND", true, "the referenced STORE message is not known yet"},
	{CodeStoreUpdateUpdate, "STORE_UPDATE_UPDATE", false, "the referenced STORE message itself has a ref"},
	{CodeInvalidPaymentMethod, "INVALID_PAYMENT_METHOD", false, "payment type not allowed at the message time"},
	{CodeVMRefNotFound, "VM_REF_NOT_FOUND", true, "the replaced or referenced message is not known yet"},
	{CodeVMVolumeNotFound, "VM_VOLUME_NOT_FOUND", true, "a volume file is not known yet"},
	{CodeVMAmendNotAllowed, "VM_AMEND_NOT_ALLOWED", false, "the replaced program does not allow amends"},
	{CodeVMUpdateUpdate, "VM_UPDATE_UPDATE", false, "a replacement cannot be replaced"},
	{CodeVMVolumeTooSmall, "VM_VOLUME_TOO_SMALL", false, "a volume is smaller than its parent file"},
	{CodeForgetNoTarget, "FORGET_NO_TARGET", false, "FORGET with neither hashes nor aggregates"},
	{CodeForgetTargetNotFound, "FORGET_TARGET_NOT_FOUND", true, "a FORGET target is not known yet"},
	{CodeForgetForget, "FORGET_FORGET", false, "a FORGET message cannot be forgotten"},
	{CodeForgetNotAllowed, "FORGET_NOT_ALLOWED", false, "the target is used by a VM and cannot be forgotten"},
	{CodeForgottenDuplicate, "FORGOTTEN_DUPLICATE", false, "copy of a message that was already forgotten"},
}

var codeIndex = func() map[Code]CodeInfo {
	m := make(map[Code]CodeInfo, len(Codes))
	for _, c := range Codes {
		m[c.Code] = c
	}
	return m
}()

// Info returns the table entry of c; unknown codes are reported as internal errors.
func (c Code) Info() CodeInfo {
	if i, ok := codeIndex[c]; ok {
		return i
	}
	return CodeInfo{Code: c, Name: "UNKNOWN", Retry: true, Meaning: "unknown code"}
}

// String returns the protocol name of the code.
func (c Code) String() string { return c.Info().Name }

// Retry reports whether a message failing with c is retried rather than rejected.
func (c Code) Retry() bool { return c.Info().Retry }

// Error is a processing error carrying a protocol code and optional details
// (a JSON-encodable value returned by the API in "details").
type Error struct {
	Code    Code
	Details any
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Code.String()
	}
	return fmt.Sprintf("%s: %v", e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code c and a formatted cause.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns the protocol code carried by err, or CodeInternalError.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternalError
}
