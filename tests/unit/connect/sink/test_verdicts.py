"""What a record the sink could not write means (connect/sink/verdicts.py): the store's error
code read out of Kafka Connect's dead-letter message, and one verdict per case."""

from __future__ import annotations

import pytest

from connect.sink.verdicts import DUPLICATE_KEY, Verdict, error_code, judge

# The __connect.errors.exception.message header of a record the MongoDB sink connector could not
# insert because its _id was taken: the Java driver's MongoBulkWriteException, as Connect keeps it.
DUPLICATE_MESSAGE = (
    "com.mongodb.MongoBulkWriteException: Bulk write operation error on server 127.0.0.1:37017. "
    "Write errors: [BulkWriteError{index=0, code=11000, message='E11000 duplicate key error "
    'collection: authtrail.audit_events index: _id_ dup key: { _id: "7-42-1f0c" }\', details={}}]. '
)
VALIDATION_MESSAGE = (
    "com.mongodb.MongoBulkWriteException: Bulk write operation error on server 127.0.0.1:37017. "
    "Write errors: [BulkWriteError{index=0, code=121, message='Document failed validation', details={}}]. "
)


class TestErrorCode:
    def test_the_code_of_a_duplicate_key_is_read_out_of_the_connect_message(self):
        assert error_code(DUPLICATE_MESSAGE) == DUPLICATE_KEY == 11000

    def test_another_store_error_gives_its_own_code(self):
        assert error_code(VALIDATION_MESSAGE) == 121

    @pytest.mark.parametrize(
        "message",
        [
            "",
            "org.apache.kafka.connect.errors.DataException: Converting byte[] to Kafka Connect data failed",
            "E11000 duplicate key error",  # the text alone is not a code
            "opcode=2004 errorcode=11000",  # part of another word
            "code=",
        ],
    )
    def test_no_code_is_none(self, message):
        assert error_code(message) is None


class TestJudge:
    def test_a_duplicate_with_the_stored_content_is_a_redelivery(self):
        assert judge(11000, DUPLICATE_MESSAGE, "e1", "abc", "abc").kind == "already_stored"

    def test_a_duplicate_with_other_content_is_an_id_conflict_naming_both_fingerprints(self):
        verdict = judge(11000, DUPLICATE_MESSAGE, "e1", "new", "old")
        assert verdict.kind == "id_conflict"
        assert all(part in verdict.detail for part in ("'e1'", "stored old", "rejected new"))

    def test_a_duplicate_with_nothing_stored_under_the_id_is_a_sink_write_error(self):
        verdict = judge(11000, DUPLICATE_MESSAGE, "e1", "abc", False)
        assert verdict.kind == "sink_write_error"
        assert "no stored document with _id 'e1'" in verdict.detail

    def test_another_store_error_is_a_refusal_with_the_stores_message(self):
        assert judge(121, VALIDATION_MESSAGE, "e1", "abc", "abc") == Verdict(
            "store_refused", VALIDATION_MESSAGE
        )

    def test_a_refusal_without_a_message_names_the_code(self):
        assert judge(121, "", "e1", "abc", False).detail == "the store refused the document (code 121)"

    def test_no_code_at_all_is_a_sink_write_error(self):
        assert judge(None, "Converting byte[] failed", "e1", None, False) == Verdict(
            "sink_write_error", "Converting byte[] failed"
        )
        assert judge(None, "", None, None, False).detail == "unknown sink write error"

    @pytest.mark.parametrize("code", [None, 121])
    def test_long_messages_are_cut_to_500_characters(self, code):
        assert judge(code, "x" * 2000, "e1", None, False).detail == "x" * 500
