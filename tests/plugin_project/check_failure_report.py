"""Fails on purpose (run by path): the report must carry the server's log."""


def test_fails_with_the_server_log_attached(sagebox):
    sagebox.client("s3").create_bucket(Bucket="failure-report")
    assert False, "failing on purpose"
