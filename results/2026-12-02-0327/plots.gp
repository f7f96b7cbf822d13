# Renders the plots of report.md from the .dat files beside it: gnuplot plots.gp
set datafile missing '?'
set grid ytics
set key top left
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

set terminal pngcairo size 640,460 font 'DejaVu Sans,10'
set output 'offloads.png'
set multiplot layout 1,1 title 'TCP stream with guest offloads (TCG guests, iperf3), medians of 4 runs, 2026-12-02 03:27 UTC'
set xlabel 'iperf3 write size (bytes)'
set ylabel 'Mbit/s'
set key top left
set title 'guest → guest'
plot 'offloads-g2g.dat' using 2:xtic(1) title 'jvhost offloads on', '' using 3 title 'TAP+bridge offloads on'
unset title
unset multiplot
