-- wrk script for S3 object operations on one presigned URL. The bench sets the environment:
-- S3_METHOD (GET or PUT) and, for PUT, S3_BODY_BYTES (the body is that many 'x' bytes).
wrk.method = os.getenv("S3_METHOD") or "GET"
local n = tonumber(os.getenv("S3_BODY_BYTES") or "0")
if wrk.method == "PUT" and n > 0 then
  wrk.body = string.rep("x", n)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
