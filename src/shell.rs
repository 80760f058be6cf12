//! The shell runner: `sh -c <script>` with the same environment rules,
//! budget, timeout and tree kill as the ESM runner.
