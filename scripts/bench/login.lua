-- wrk: POST /auth/login with the right password (each success opens a session).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. os.getenv("TESSERA_BENCH_EMAIL") .. '","password":"' .. os.getenv("TESSERA_BENCH_PASSWORD") .. '"}'
