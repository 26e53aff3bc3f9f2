-- wrk: render the notes page with the web session cookie (TESSERA_BENCH_COOKIE).
wrk.method = "GET"
wrk.headers["Cookie"] = os.getenv("TESSERA_BENCH_COOKIE")
