# calcd interop client over TLS: ruby_client.rb with ruby-thrift's
# Thrift::SSLSocket where it makes its Thrift::Socket.
#
# usage: ruby ruby_tls_client.rb GEN_RB_DIR HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
#   as ruby_client.rb; the TLS settings come from the environment:
#   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
#   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
#   CALCD_TLS_KEY    its key
#   CALCD_TLS_RUBY_TIMEOUT=none   no read timeout (see below)
# SSLSocket checks calcd's certificate against HOST (post_connection_check).
#
# ruby-thrift's Socket#read with a timeout waits with IO.select on the socket
# before each readpartial, even when OpenSSL::SSL::SSLSocket already holds
# the bytes: a framed reply whose length and body came in one TLS record
# then times out after its length.  With CALCD_TLS_RUBY_TIMEOUT=none the
# socket has no timeout, so read is a plain readpartial.

require 'openssl'
require 'thrift'

ca = ENV['CALCD_TLS_CA']
if ca.nil? || ca.empty?
  puts 'FAIL: CALCD_TLS_CA is not set'
  exit 2
end
context = OpenSSL::SSL::SSLContext.new
context.ca_file = ca
context.verify_mode = OpenSSL::SSL::VERIFY_PEER
if ENV['CALCD_TLS_CERT'] && !ENV['CALCD_TLS_CERT'].empty?
  context.cert = OpenSSL::X509::Certificate.new(File.read(ENV['CALCD_TLS_CERT']))
  context.key = OpenSSL::PKey.read(File.read(ENV['CALCD_TLS_KEY']))
end
CALCD_TLS_CONTEXT = context

# Thrift::Socket.new(host, port, timeout) makes a Thrift::SSLSocket instead
# (which itself is made through Class#new, untouched).
module CalcdTLSSocket
  def new(*args)
    return super unless equal?(Thrift::Socket)

    host, port, timeout = args
    timeout = nil if ENV['CALCD_TLS_RUBY_TIMEOUT'] == 'none'
    Thrift::SSLSocket.new(host, port, timeout, CALCD_TLS_CONTEXT)
  end
end
Thrift::Socket.singleton_class.prepend(CalcdTLSSocket)

load File.join(__dir__, 'ruby_client.rb')
