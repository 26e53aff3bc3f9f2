-- wrk: authorized GET /notes. The token comes from the environment (TESSERA_BENCH_TOKEN).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TESSERA_BENCH_TOKEN")
